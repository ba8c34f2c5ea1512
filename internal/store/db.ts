import Database from "better-sqlite3";
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.js";
import { ConfigurationError } from "../domain/index.js";

export type Db = Database.Database;

/** A store this daemon cannot open (written by a newer schema). */
export class SchemaError extends ConfigurationError {
  override readonly name = "SchemaError";
}

export const STORE_FILE = "iotfed.db";

/**
 * Opens (creating if needed) the instance store in `dataDir`: WAL, foreign
 * keys on, migrations applied one transaction per step. Refuses a store
 * written by a newer schema.
 */
/**
 * The store holds sealed secrets and the account directory: its directory
 * is 0700 and the database, its WAL and shared memory 0600, whatever the
 * umask was (a store made by an earlier release is tightened on open).
 */
function restrict(dataDir: string): void {
  chmodSync(dataDir, 0o700);
  for (const f of [STORE_FILE, `${STORE_FILE}-wal`, `${STORE_FILE}-shm`]) {
    const p = join(dataDir, f);
    if (existsSync(p)) chmodSync(p, 0o600);
  }
}

export function openStore(dataDir: string, opts: { migrate?: boolean; maxBytes?: number } = {}): { db: Db; fromVersion: number; toVersion: number } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = new Database(join(dataDir, STORE_FILE));
  try {
    db.pragma("journal_mode = WAL");
    restrict(dataDir);
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    db.pragma("busy_timeout = 5000");
    const fromVersion = db.pragma("user_version", { simple: true }) as number;
    if (fromVersion > SCHEMA_VERSION) {
      throw new SchemaError(
        "dataDir",
        `${join(dataDir, STORE_FILE)} has schema version ${fromVersion}; this iotfedd knows up to ${SCHEMA_VERSION}: run a newer iotfedd`,
      );
    }
    if (opts.migrate !== false) {
      for (let v = fromVersion; v < SCHEMA_VERSION; v++) {
        db.transaction(() => {
          db.exec(MIGRATIONS[v]!);
          db.pragma(`user_version = ${v + 1}`);
        })();
      }
    }
    if (opts.maxBytes !== undefined) {
      // A size limit: writes past it fail with SQLITE_FULL and roll back whole.
      const pageSize = db.pragma("page_size", { simple: true }) as number;
      db.pragma(`max_page_count = ${Math.max(1, Math.floor(opts.maxBytes / pageSize))}`);
    }
    return { db, fromVersion, toVersion: SCHEMA_VERSION };
  } catch (e) {
    db.close();
    throw e;
  }
}

export function isUniqueViolation(e: unknown): boolean {
  return (e as { code?: string })?.code === "SQLITE_CONSTRAINT_UNIQUE" || (e as { code?: string })?.code === "SQLITE_CONSTRAINT_PRIMARYKEY";
}
