import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { createEventHub } from "../../internal/domain/index.js";
import { createSealer } from "../../internal/security/index.js";
import { createReplicationStore, createRepositories, openStore, type Db, type Repositories, type StoreEvents, type StoreHub } from "../../internal/store/index.js";

export interface TestStore extends Repositories {
  dir: string;
  db: Db;
  /** The schema version the store had before it was opened. */
  fromVersion: number;
  hub: StoreHub;
  /** Every event the repositories announced, as `name payload-summary` strings, in order. */
  events: { name: keyof StoreEvents; payload: unknown }[];
  close(): void;
}

/**
 * A real store in a temp directory with every repository, as the daemon
 * builds them (store/repositories.ts). A follower of the hub that throws
 * fails the test instead of being logged.
 */
export function openTestStore(o: { dir?: string; self?: string; regionId?: string; now?: () => number; codeClock?: () => number } = {}): TestStore {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), "iotfed-store-"));
  const { db, fromVersion } = openStore(dir);
  const failures: unknown[] = [];
  const hub = createEventHub<StoreEvents>((_event, err) => failures.push(err));
  const events: TestStore["events"] = [];
  for (const name of ["product.changed", "product.deleted", "device.changed", "device.deleted", "device.moved", "record.queued", "job.changed", "audit.recorded"] as const) {
    hub.on(name, (payload) => events.push({ name, payload }));
  }
  const now = o.now ?? Date.now;
  const repos = createRepositories({
    ...createReplicationStore(db, hub, now),
    db,
    sealer: createSealer(randomBytes(32)),
    hub,
    self: o.self ?? "i1",
    regionId: o.regionId ?? "cn-shanghai",
    where: (id) => id,
    now,
    ...(o.codeClock === undefined ? {} : { codeClock: o.codeClock }),
  });
  return {
    ...repos,
    dir,
    db,
    fromVersion,
    hub,
    events,
    close() {
      if (db.open) db.close();
      if (o.dir === undefined) rmSync(dir, { recursive: true, force: true });
      if (failures.length > 0) throw failures[0];
    },
  };
}
