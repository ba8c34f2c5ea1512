import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Db } from "./db.js";
import { AlreadyExistsError, InvalidArgumentError } from "../domain/index.js";

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface BackupResult {
  path: string;
  bytes: number;
  pages: number;
  schemaVersion: number;
  lastRevision: number;
  ms: number;
}

/**
 * An online, consistent copy of the store through SQLite's backup API
 * (better-sqlite3 `backup`): it copies the database page by page between
 * other statements, and the copy is one snapshot of committed data. It is
 * written under a temporary name, checked (`quick_check`), then renamed, so
 * a backup file that exists is whole.
 */
export async function backupStore(db: Db, dir: string, name: string): Promise<BackupResult> {
  if (!NAME_RE.test(name) || name.endsWith(".tmp")) {
    throw new InvalidArgumentError("name", "must be 1-128 characters of letters, digits, . _ - (no path), not ending in .tmp");
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, name);
  if (existsSync(path)) throw new AlreadyExistsError(`backup ${name} already exists in ${dir}`, { field: "name" });
  const tmp = `${path}.tmp`;
  rmSync(tmp, { force: true });
  const t0 = performance.now();
  try {
    const r = await db.backup(tmp);
    const copy = new Database(tmp, { readonly: true });
    let schemaVersion: number;
    let lastRevision: number;
    try {
      const check = copy.pragma("quick_check", { simple: true });
      if (check !== "ok") throw new Error(`backup copy failed its check: ${String(check)}`);
      schemaVersion = copy.pragma("user_version", { simple: true }) as number;
      lastRevision = (copy.prepare("SELECT last_revision FROM replication_state WHERE id = 1").get() as { last_revision: number } | undefined)?.last_revision ?? 0;
    } finally {
      copy.close();
    }
    chmodSync(tmp, 0o600); // sealed secrets: the owner's only
    renameSync(tmp, path);
    return { path, bytes: statSync(path).size, pages: r.totalPages, schemaVersion, lastRevision, ms: Math.round(performance.now() - t0) };
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
