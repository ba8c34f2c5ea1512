import type { Db } from "./db.js";
import type { RecordKindName, RecordKinds } from "./record-kinds.js";
import type { RouteChange } from "../domain/index.js";

/** A record committed here and waiting to be published, with its current value. */
export interface OutboxItem {
  seq: number;
  change: RouteChange;
}

export type Outbox = ReturnType<typeof createOutbox>;

/**
 * The replication outbox (ARCHITECTURE.md "The handoff", step 5): a row per
 * record to publish, queued in the transaction of the change itself, so a
 * crash between commit and publish only delays the record. A row names the
 * record by key; the publisher sends its value as it is then (the newest).
 */
export function createOutbox(db: Db, kinds: RecordKinds, now: () => number = Date.now) {
  const insert = db.prepare("INSERT INTO route_outbox(kind, k1, k2, created_at) VALUES (?, ?, ?, ?)");
  const batch = db.prepare<[number], { seq: number; kind: RecordKindName; k1: string; k2: string }>(
    "SELECT seq, kind, k1, k2 FROM route_outbox ORDER BY seq LIMIT ?",
  );
  const ack = db.prepare("DELETE FROM route_outbox WHERE seq = ?");
  const depth = db.prepare<[], { n: number; oldest: number | null }>("SELECT count(*) AS n, min(created_at) AS oldest FROM route_outbox");
  const requeueOwn = Object.values(kinds).map((k) =>
    db.prepare(`INSERT INTO route_outbox(kind, k1, k2, created_at) SELECT '${k.kind}', k1, k2, @t FROM (${k.ownedKeysSql})`),
  );

  return {
    /** Queues a record by its key; call inside the change's transaction. */
    enqueue(kind: RecordKindName, k1: string, k2: string): void {
      insert.run(kind, k1, k2, now());
    },
    /** The oldest queued records with their current values; rows whose record is gone are dropped. */
    pending(limit: number): OutboxItem[] {
      const items: OutboxItem[] = [];
      for (const row of batch.all(limit)) {
        const route = (kinds[row.kind].get as (k1: string, k2: string) => RouteChange["route"] | undefined)(row.k1, row.k2);
        if (route === undefined) ack.run(row.seq);
        else items.push({ seq: row.seq, change: { kind: row.kind, route } as RouteChange });
      }
      return items;
    },
    ack(seqs: number[]): void {
      db.transaction(() => {
        for (const s of seqs) ack.run(s);
      })();
    },
    /** Queues every record this instance is the authority for (the stream lost them); returns how many. */
    requeueOwn(self: string): number {
      const t = now();
      return db.transaction(() => requeueOwn.reduce((n, stmt) => n + stmt.run({ t, self }).changes, 0))();
    },
    depth(): { rows: number; oldestMs: number } {
      const d = depth.get()!;
      return { rows: d.n, oldestMs: d.oldest ?? 0 };
    },
  };
}
