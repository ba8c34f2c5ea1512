import { isUniqueViolation, type Db } from "./db.js";
import { decodePageToken, toPage, type Page } from "./paging.js";
import { recordKinds, toPoolRoute, toProductRoute, toInstanceRoute, type PoolRouteRow, type ProductRouteRow, type InstanceRouteRow, type RecordKinds } from "./record-kinds.js";
import type { Outbox } from "./outbox.js";
import type { StoreHub } from "./events.js";
import { AlreadyExistsError, type AccountRoute, type DeviceRelease, type DeviceRoute, type InstanceRoute, type PoolRoute, type ProductRoute, type RouteChange } from "../domain/index.js";

/** A record read from the stream, with its stream revision. */
export interface ReplicatedRecord {
  revision: number;
  change: RouteChange;
}

export type RecordsRepo = ReturnType<typeof createRecordsRepo>;

/**
 * The replication plane's records as this daemon knows them (ARCHITECTURE.md
 * "Ownership"): device and product routes, the instance and account
 * directories, the public pool. Each is kept only if its generation (or
 * version) is higher than the one stored, so the same code path takes this
 * daemon's own commits and records from the stream, and replays, duplicates
 * and reordering change nothing. Own commits also queue an outbox row in the
 * caller's transaction, so a record is published after its commit even
 * across a crash or a NATS outage. How each kind is stored is in
 * record-kinds.ts.
 */
export function createRecordsRepo(db: Db, opts: { outbox: Outbox; hub: StoreHub; kinds?: RecordKinds; now?: () => number }) {
  const kinds = opts.kinds ?? recordKinds(db);
  const now = opts.now ?? Date.now;
  const poolPage = db.prepare<[string, number], PoolRouteRow>("SELECT * FROM pool_products WHERE product_key > ? ORDER BY product_key LIMIT ?");
  const nearestDevices = db.prepare<[], { product_key: string; device_name: string; holder: string }>(
    "SELECT product_key, device_name, holder FROM device_routes WHERE nearest = 1",
  );
  const deviceHead = db.prepare<[string, string], [string, number]>("SELECT holder, generation FROM device_routes WHERE product_key = ? AND device_name = ?").raw(true);
  const allProducts = db.prepare<[], ProductRouteRow>("SELECT * FROM product_routes");
  const allInstances = db.prepare<[], InstanceRouteRow>("SELECT * FROM instance_routes");
  const selectRevision = db.prepare<[], { last_revision: number }>("SELECT last_revision FROM replication_state WHERE id = 1");
  const setRevision = db.prepare("UPDATE replication_state SET last_revision = ?, updated_at = ? WHERE id = 1");
  const selectSigningKey = db.prepare<[], { signing_key: string }>("SELECT signing_key FROM replication_state WHERE id = 1");
  const selectRouteSnapshot = db.prepare<[], string>("SELECT route_snapshot FROM replication_state WHERE id = 1").pluck();
  const setRouteSnapshot = db.prepare("UPDATE replication_state SET route_snapshot = ? WHERE id = 1");
  const setSigningKey = db.prepare("UPDATE replication_state SET signing_key = ? WHERE id = 1");
  const routesByHolder = db.prepare<[], { holder: string; n: number }>("SELECT holder, count(*) AS n FROM device_routes GROUP BY holder");
  const counts = db.prepare<[], { devices: number; products: number; instances: number }>(
    `SELECT (SELECT count(*) FROM device_routes) AS devices,
            (SELECT count(*) FROM product_routes WHERE deleted = 0) AS products,
            (SELECT count(*) FROM instance_routes) AS instances`,
  );

  const upsert = (c: RouteChange, revision: number): boolean => (kinds[c.kind].upsert as (r: RouteChange["route"], rev: number) => boolean)(c.route, revision);

  return {
    /**
     * Records a record this daemon committed. Call inside the transaction of
     * the change itself. With `publish`, queues it for the stream (the
     * committing daemon publishes; one that only learns of a change, like a
     * source marking a device away, does not). True when it was newer.
     */
    commit(c: RouteChange, publish: boolean): boolean {
      let newer: boolean;
      try {
        newer = upsert(c, 0);
      } catch (e) {
        if (c.kind === "account" && isUniqueViolation(e)) {
          throw new AlreadyExistsError(`account_name: an account named "${c.route.accountName}" exists`, { field: "account_name" });
        }
        throw e;
      }
      if (newer && publish) {
        const [k1, k2] = (kinds[c.kind].key as (r: RouteChange["route"]) => [string, string])(c.route);
        opts.outbox.enqueue(c.kind, k1, k2);
        opts.hub.emit("record.queued", { kind: c.kind });
      }
      return newer;
    },
    /** Commits and queues one record in its own transaction. */
    commitOne(c: RouteChange): boolean {
      return db.transaction(() => this.commit(c, true))();
    },
    /**
     * Applies records read from the stream and advances the last applied
     * revision, in one transaction. Returns the records that were newer.
     */
    apply(records: ReplicatedRecord[], lastRevision: number, onConflict?: (c: RouteChange) => void): RouteChange[] {
      return db.transaction(() => {
        const applied: RouteChange[] = [];
        for (const r of records) {
          try {
            if (upsert(r.change, r.revision)) applied.push(r.change);
          } catch (e) {
            // An account name another account holds here: the directory keeps
            // the first; the conflict is reported for the operator to resolve.
            if (!isUniqueViolation(e)) throw e;
            onConflict?.(r.change);
          }
        }
        setRevision.run(lastRevision, now());
        return applied;
      })();
    },
    lastRevision(): number {
      return selectRevision.get()!.last_revision;
    },
    /**
     * Notes the key (its id, in hex) that signs this daemon's records; when
     * it is not the one noted before (a first signing key, or a new one),
     * every record this daemon owns is queued to be published again, signed
     * with it. Returns how many were queued.
     */
    useSigningKey(keyId: string, self: string): number {
      if (selectSigningKey.get()!.signing_key === keyId) return 0;
      return db.transaction(() => {
        setSigningKey.run(keyId);
        const n = opts.outbox.requeueOwn(self);
        if (n > 0) opts.hub.emit("record.queued", { kind: "instance" });
        return n;
      })();
    },
    /** Runs `fn` in one transaction (one snapshot of the store for everything it reads). */
    inTransaction<T>(fn: () => T): T {
      return db.transaction(fn)();
    },
    /** Forgets the stream position (the stream was recreated): the next watch reads it all again. */
    resetRevision(): void {
      setRevision.run(0, now());
    },
    device(productKey: string, deviceName: string): DeviceRoute | undefined {
      return kinds.device.get(productKey, deviceName);
    },
    /** A device route's holder and generation only (what checking a record from the stream needs; cheaper than device()). */
    deviceHead(productKey: string, deviceName: string): { holder: string; generation: number } | undefined {
      const r = deviceHead.get(productKey, deviceName);
      return r === undefined ? undefined : { holder: r[0], generation: r[1] };
    },
    /** Device routes placed by the nearest strategy (start-up load flags them in the table). */
    *nearestDevices(): IterableIterator<{ productKey: string; deviceName: string; holder: string }> {
      for (const r of nearestDevices.iterate()) yield { productKey: r.product_key, deviceName: r.device_name, holder: r.holder };
    },
    product(productKey: string): ProductRoute | undefined {
      return kinds.product.get(productKey, "");
    },
    /** The id of the route snapshot that matches this store, or "" (none, or the store changed since). */
    routeSnapshot(): string {
      return selectRouteSnapshot.get() ?? "";
    },
    /** Records (or, with "", forgets) the route snapshot that matches this store now. */
    setRouteSnapshot(id: string): void {
      setRouteSnapshot.run(id);
    },
    products(): ProductRoute[] {
      return allProducts.all().map(toProductRoute);
    },
    /**
     * The release by which `holder` got a device it still holds, carried into
     * the routes it commits without a move (a new generation at the same
     * holder: nearest marking, a forced abort). Undefined at the product's
     * home, where the device never arrived from anywhere.
     */
    keptRelease(productKey: string, deviceName: string, holder: string): DeviceRelease | undefined {
      const r = kinds.device.get(productKey, deviceName);
      return r?.holder === holder ? r.release : undefined;
    },
    /** An account's record, when it has one. */
    account(accountId: string): AccountRoute | undefined {
      return kinds.account.get(accountId, "");
    },
    instance(instanceId: string): InstanceRoute | undefined {
      return kinds.instance.get(instanceId, "");
    },
    /** Queues this daemon's current record under a key for publication again (it was overwritten in the stream). */
    republish(kind: RouteChange["kind"], k1: string, k2: string): void {
      opts.outbox.enqueue(kind, k1, k2);
      opts.hub.emit("record.queued", { kind });
    },
    /** A product of the public pool (R17). */
    pool(productKey: string): PoolRoute | undefined {
      return kinds.pool.get(productKey, "");
    },
    poolPage(size: number, pageToken: string): Page<PoolRoute> {
      const after = decodePageToken(pageToken) ?? "";
      return toPage(poolPage.all(after, size + 1).map(toPoolRoute), size, (p) => p.productKey);
    },
    instances(): InstanceRoute[] {
      return allInstances.all().map(toInstanceRoute);
    },
    /** Every device route in blocks (see deviceRouteBlocks). */
    deviceBlocks(blockSize = 65536): IterableIterator<string> {
      return deviceRouteBlocks(db, blockSize);
    },
    counts(): { devices: number; products: number; instances: number } {
      return counts.get()!;
    },
    /** Device routes by holder: a scan of every route (callers cache it). */
    routesByHolder(): Map<string, number> {
      return new Map(routesByHolder.all().map((r) => [r.holder, r.n]));
    },
  };
}

/**
 * Every device route, in blocks of at most `blockSize` records: one string
 * each, records "productKey holder deviceName" separated by "\n". Reads
 * only, so a read-only connection on a worker thread can run it.
 */
export function* deviceRouteBlocks(db: Db, blockSize = 65536): IterableIterator<string> {
  // The start-up load reads device routes in blocks of one string each
  // (SQLite builds it in C), since a JS row per route costs more than the
  // hashing: first the key that ends the block (an index skip), then the
  // block's records up to it.
  const blockEnd = db.prepare<[string, string, number], [string, string]>(
    "SELECT product_key, device_name FROM device_routes WHERE (product_key, device_name) > (?, ?) ORDER BY product_key, device_name LIMIT 1 OFFSET ?",
  ).raw(true);
  const blockRecords = db.prepare<[string, string, string, string], [string | null]>(
    `SELECT group_concat(product_key || ' ' || holder || ' ' || device_name, char(10)) FROM device_routes
     WHERE (product_key, device_name) > (?, ?) AND (product_key, device_name) <= (?, ?)`,
  ).raw(true);
  const blockRest = db.prepare<[string, string], [string | null]>(
    `SELECT group_concat(product_key || ' ' || holder || ' ' || device_name, char(10)) FROM device_routes
     WHERE (product_key, device_name) > (?, ?)`,
  ).raw(true);
  let pk = "";
  let dn = "";
  for (;;) {
    const last = blockEnd.get(pk, dn, blockSize - 1);
    if (last === undefined) {
      const rest = blockRest.get(pk, dn)![0];
      if (rest !== null) yield rest;
      return;
    }
    const block = blockRecords.get(pk, dn, last[0], last[1])![0];
    if (block !== null) yield block;
    [pk, dn] = last;
  }
}
