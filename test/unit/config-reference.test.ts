import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { configReference } from "../../internal/config/index.js";

const DOC = "docs/operating/configuration.md";

/** The reference table's rows (the first table, before the next section): key, default cell. */
function documented(text: string): Map<string, string> {
  const rows = new Map<string, string>();
  const start = text.indexOf("| key | default | meaning |");
  const end = text.indexOf("\n## ", start);
  for (const line of text.slice(start, end < 0 ? undefined : end).split("\n")) {
    const m = /^\| `([^`]+)` \| ([^|]*) \|/.exec(line);
    if (m === null) continue;
    assert.equal(rows.has(m[1]!), false, `${DOC}: ${m[1]} is documented twice`);
    rows.set(m[1]!, m[2]!.trim());
  }
  return rows;
}

/** Why the documented rows disagree with the schema's keys, or nothing. */
function problems(keys: ReturnType<typeof configReference>, rows: Map<string, string>): string[] {
  const out: string[] = [];
  const known = new Set(keys.map((k) => k.key));
  for (const k of keys) {
    const cell = rows.get(k.key);
    if (cell === undefined) {
      out.push(`${k.key} is not documented`);
      continue;
    }
    const literal = /^`([^`]*)`$/.exec(cell);
    if (k.hasDefault) {
      if (literal === null) out.push(`${k.key}: the default is documented as "${cell}", the schema's is ${JSON.stringify(k.default)}`);
      else if (JSON.stringify(parseYaml(literal[1]!)) !== JSON.stringify(k.default)) {
        out.push(`${k.key}: the default is documented as ${literal[1]}, the schema's is ${JSON.stringify(k.default)}`);
      }
    } else if (literal !== null) {
      out.push(`${k.key}: documented with the default ${literal[1]}, but the schema gives it none`);
    }
  }
  for (const key of rows.keys()) if (!known.has(key)) out.push(`${key} is documented but is not a key of the schema`);
  return out;
}

describe("configuration reference", () => {
  it(`${DOC} documents every key of the schema with the schema's default, and nothing else`, () => {
    const keys = configReference();
    assert.ok(keys.length > 60, `the schema walk found ${keys.length} keys`);
    assert.deepEqual(problems(keys, documented(readFileSync(DOC, "utf8"))), []);
  });

  it("the check fails for an undocumented key, a wrong default and a key the schema lacks", () => {
    const schema = z.object({ a: z.object({ b: z.number().default(3), c: z.string().optional() }).prefault({}), d: z.array(z.object({ e: z.string() })).default([]) });
    const keys = configReference(schema);
    assert.deepEqual(keys.map((k) => k.key), ["a.b", "a.c", "d[].e"]);
    const rows = new Map([
      ["a.b", "`4`"],
      ["a.c", "`x`"],
      ["z", "none"],
    ]);
    assert.deepEqual(problems(keys, rows), [
      "a.b: the default is documented as 4, the schema's is 3",
      "a.c: documented with the default x, but the schema gives it none",
      "d[].e is not documented",
      "z is documented but is not a key of the schema",
    ]);
  });
});
