#!/usr/bin/env node
// Keeps imports pointing inward (ARCHITECTURE.md "Layout"):
//   - nothing in internal/ imports cmd/, bench/ or test/;
//   - internal/domain imports no other module of ours;
//   - a module is entered through its index.ts from outside its folder
//     (internal/gen is generated code and is imported by file).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, dirname, resolve } from "node:path";

const root = resolve(dirname(new URL(import.meta.url).pathname), "..");
const allowed = {
  domain: [],
  config: ["domain", "geo"],
  security: ["domain"],
  store: ["domain", "security"],
  routes: ["domain"],
  geo: ["domain"],
  metrics: [],
  log: [],
  rpc: ["domain"],
  trust: ["domain", "gen"],
  bootstrap: ["domain", "routes", "geo", "metrics", "log"],
  admin: ["domain", "store", "routing", "security", "rpc", "metrics", "log", "gen"],
  peer: ["domain", "store", "trust", "rpc", "metrics", "log", "gen"],
  jobs: ["domain", "store", "peer", "trust", "rpc", "metrics", "log"],
  replication: ["domain", "store", "trust", "metrics", "log", "gen"],
  routing: ["domain", "store", "routes", "log"],
  mqtt: ["domain", "store", "metrics", "log"],
  thing: ["domain", "store", "metrics", "log"],
  console: ["gen"],
  daemon: null, // the composition root may import every module
  gen: [],
};

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (p.endsWith(".ts")) yield p;
  }
}

const problems = [];
for (const file of files(join(root, "internal"))) {
  const rel = relative(join(root, "internal"), file);
  const mod = rel.split("/")[0];
  const text = readFileSync(file, "utf8");
  for (const m of text.matchAll(/from\s+"(\.[^"]+)"/g)) {
    const target = relative(root, resolve(dirname(file), m[1]));
    const where = `internal/${rel}`;
    if (/^(cmd|bench|test)\//.test(target)) problems.push(`${where} imports ${target}: internal/ must not import cmd/, bench/ or test/`);
    const tm = /^internal\/([^/]+)\/(.+)$/.exec(target);
    if (tm === null || tm[1] === mod) continue;
    const [, tmod, tfile] = tm;
    const ok = allowed[mod];
    if (ok === undefined) problems.push(`${where}: module ${mod} is not listed in scripts/check-deps.mjs`);
    else if (ok !== null && !ok.includes(tmod)) problems.push(`${where} imports internal/${tmod}: ${mod} may import only ${ok.join(", ") || "nothing of ours"}`);
    if (tmod !== "gen" && tfile !== "index.js") problems.push(`${where} imports internal/${tmod}/${tfile}: enter a module through its index.ts`);
  }
}
if (problems.length > 0) {
  for (const p of problems) console.error(`check:deps: ${p}`);
  process.exit(1);
}
console.log("check:deps: imports point inward");
