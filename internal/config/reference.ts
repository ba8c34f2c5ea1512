import type { z } from "zod";
import { configSchema } from "./schema.js";

/** One key of the configuration file, with the default the schema gives it (when it gives one). */
export interface ConfigKey {
  /** Dotted path; `[]` marks the elements of a list, e.g. `peers[].id`. */
  key: string;
  hasDefault: boolean;
  default: unknown;
}

type Wrapped = { _zod: { def: { type: string; innerType?: Wrapped; in?: Wrapped; defaultValue?: unknown; shape?: Record<string, Wrapped>; element?: Wrapped } } };
const WRAPPERS = new Set(["default", "optional", "prefault", "nullable", "readonly", "catch"]);

function unwrap(t: Wrapped): Wrapped {
  for (let d = t._zod.def; ; d = t._zod.def) {
    if (WRAPPERS.has(d.type)) t = d.innerType!;
    else if (d.type === "pipe") t = d.in!;
    else return t;
  }
}

function defaultOf(t: Wrapped): { hasDefault: boolean; default: unknown } {
  for (let d = t._zod.def; ; d = t._zod.def) {
    if (d.type === "default") return { hasDefault: true, default: d.defaultValue };
    if (WRAPPERS.has(d.type)) t = d.innerType!;
    else if (d.type === "pipe") t = d.in!;
    else return { hasDefault: false, default: undefined };
  }
}

/**
 * Every key of the configuration schema, read from the schema itself, in
 * its order: the configuration reference (docs/operating/configuration.md)
 * is checked against this list by a test.
 */
export function configReference(schema: z.ZodType = configSchema): ConfigKey[] {
  const out: ConfigKey[] = [];
  const walk = (t: Wrapped, path: string): void => {
    const def = unwrap(t)._zod.def;
    if (def.type === "object") {
      for (const [k, v] of Object.entries(def.shape!)) walk(v, path === "" ? k : `${path}.${k}`);
    } else if (def.type === "array" && unwrap(def.element!)._zod.def.type === "object") {
      walk(def.element!, `${path}[]`);
    } else {
      out.push({ key: path, ...defaultOf(t) });
    }
  };
  walk(schema, "");
  return out;
}
