import { isUniqueViolation, type Db } from "./db.js";
import { decodePageToken, toPage, type Page } from "./paging.js";
import { AlreadyExistsError, type AccountRoute, type DeviceRoute, type InstanceRoute, type PoolRoute, type ProductRoute, type RouteChange } from "../domain/index.js";

interface DeviceRouteRow {
  product_key: string;
  device_name: string;
  holder: string;
  generation: number;
  nearest: number;
  committed_by: string;
  committed_at: number;
}
interface ProductRouteRow {
  product_key: string;
  home: string;
  version: number;
  deleted: number;
  candidates: string;
  account_id: string;
  product_name: string;
  node_type: string;
  status: string;
  region_id: string;
  committed_by: string;
  committed_at: number;
}
interface InstanceRouteRow {
  instance_id: string;
  region_id: string;
  mqtt_host: string;
  mqtt_port: number;
  version: number;
  committed_at: number;
}

const toDeviceRoute = (r: DeviceRouteRow): DeviceRoute => ({
  productKey: r.product_key,
  deviceName: r.device_name,
  holder: r.holder,
  generation: r.generation,
  nearest: r.nearest === 1,
  committedBy: r.committed_by,
  committedAt: r.committed_at,
});
const toProductRoute = (r: ProductRouteRow): ProductRoute => ({
  productKey: r.product_key,
  home: r.home,
  version: r.version,
  deleted: r.deleted === 1,
  candidates: JSON.parse(r.candidates) as string[],
  accountId: r.account_id,
  productName: r.product_name,
  nodeType: r.node_type,
  status: r.status,
  regionId: r.region_id,
  committedBy: r.committed_by,
  committedAt: r.committed_at,
});
const toInstanceRoute = (r: InstanceRouteRow): InstanceRoute => ({
  instanceId: r.instance_id,
  regionId: r.region_id,
  mqttHost: r.mqtt_host,
  mqttPort: r.mqtt_port,
  version: r.version,
  committedAt: r.committed_at,
});

interface AccountRouteRow {
  account_id: string;
  account_name: string;
  home_instance: string;
  version: number;
  created_at: number;
}
interface PoolRouteRow {
  product_key: string;
  account_id: string;
  account_name: string;
  product_name: string;
  node_type: string;
  data_format: string;
  description: string;
  home: string;
  version: number;
  topics: string;
  thing_model: string;
  pooled_at: number;
  committed_by: string;
  committed_at: number;
}
const toAccountRoute = (r: AccountRouteRow): AccountRoute => ({
  accountId: r.account_id,
  accountName: r.account_name,
  home: r.home_instance,
  version: r.version,
  createdAt: r.created_at,
  committedAt: r.created_at,
});
export const toPoolRoute = (r: PoolRouteRow): PoolRoute => ({
  productKey: r.product_key,
  accountId: r.account_id,
  accountName: r.account_name,
  productName: r.product_name,
  nodeType: r.node_type,
  dataFormat: r.data_format,
  description: r.description,
  home: r.home,
  version: r.version,
  topics: JSON.parse(r.topics) as PoolRoute["topics"],
  thingModel: r.thing_model,
  pooledAt: r.pooled_at,
  committedBy: r.committed_by,
  committedAt: r.committed_at,
});

type Kind = RouteChange["kind"];

/** A route committed here and waiting to be published, with its current record. */
export interface OutboxItem {
  seq: number;
  change: RouteChange;
}

/** A record read from the stream, with its stream revision. */
export interface ReplicatedRecord {
  revision: number;
  change: RouteChange;
}

export type RoutesRepo = ReturnType<typeof createRoutesRepo>;

/**
 * The replication plane's store (ARCHITECTURE.md "Ownership"): routes as
 * this daemon knows them, each kept only if its generation (or version) is
 * higher than the one stored — so the same code path takes this daemon's
 * own commits and records from the stream, and replays, duplicates and
 * reordering change nothing. Own commits also queue an outbox row in the
 * caller's transaction, so a route is published after its commit even
 * across a crash or a NATS outage.
 */
export function createRoutesRepo(db: Db, now: () => number = Date.now) {
  const upsertDevice = db.prepare(
    `INSERT INTO device_routes(product_key, device_name, holder, generation, nearest, committed_by, committed_at, revision)
     VALUES (@productKey, @deviceName, @holder, @generation, @nearest, @committedBy, @committedAt, @revision)
     ON CONFLICT DO UPDATE SET holder = excluded.holder, generation = excluded.generation, nearest = excluded.nearest, committed_by = excluded.committed_by,
       committed_at = excluded.committed_at, revision = excluded.revision
     WHERE excluded.generation > device_routes.generation`,
  );
  const upsertProduct = db.prepare(
    `INSERT INTO product_routes(product_key, home, version, deleted, candidates, account_id, product_name, node_type, status, region_id, committed_by, committed_at, revision)
     VALUES (@productKey, @home, @version, @deleted, @candidates, @accountId, @productName, @nodeType, @status, @regionId, @committedBy, @committedAt, @revision)
     ON CONFLICT DO UPDATE SET home = excluded.home, version = excluded.version, deleted = excluded.deleted, candidates = excluded.candidates,
       account_id = excluded.account_id, product_name = excluded.product_name, node_type = excluded.node_type, status = excluded.status,
       region_id = excluded.region_id, committed_by = excluded.committed_by, committed_at = excluded.committed_at, revision = excluded.revision
     WHERE excluded.version > product_routes.version`,
  );
  const upsertInstance = db.prepare(
    `INSERT INTO instance_routes(instance_id, region_id, mqtt_host, mqtt_port, version, committed_at, revision)
     VALUES (@instanceId, @regionId, @mqttHost, @mqttPort, @version, @committedAt, @revision)
     ON CONFLICT DO UPDATE SET region_id = excluded.region_id, mqtt_host = excluded.mqtt_host, mqtt_port = excluded.mqtt_port,
       version = excluded.version, committed_at = excluded.committed_at, revision = excluded.revision
     WHERE excluded.version > instance_routes.version`,
  );
  // The account directory is the accounts table itself: a replicated record
  // inserts or renames an account; tokens stay local to each daemon.
  const upsertAccount = db.prepare(
    `INSERT INTO accounts(account_id, account_name, created_at, home_instance, version, revision)
     VALUES (@accountId, @accountName, @createdAt, @home, @version, @revision)
     ON CONFLICT(account_id) DO UPDATE SET account_name = excluded.account_name, home_instance = excluded.home_instance,
       version = excluded.version, revision = excluded.revision
     WHERE excluded.version > accounts.version`,
  );
  const upsertPool = db.prepare(
    `INSERT INTO pool_products(product_key, account_id, account_name, product_name, node_type, data_format, description, home, version, topics, thing_model, pooled_at, committed_by, committed_at, revision)
     VALUES (@productKey, @accountId, @accountName, @productName, @nodeType, @dataFormat, @description, @home, @version, @topicsJson, @thingModel, @pooledAt, @committedBy, @committedAt, @revision)
     ON CONFLICT DO UPDATE SET account_id = excluded.account_id, account_name = excluded.account_name, product_name = excluded.product_name,
       node_type = excluded.node_type, data_format = excluded.data_format, description = excluded.description, home = excluded.home,
       version = excluded.version, topics = excluded.topics, thing_model = excluded.thing_model, committed_by = excluded.committed_by,
       committed_at = excluded.committed_at, revision = excluded.revision
     WHERE excluded.version > pool_products.version`,
  );
  const selectAccountRoute = db.prepare<[string], AccountRouteRow>(
    "SELECT account_id, account_name, home_instance, version, created_at FROM accounts WHERE account_id = ? AND version > 0",
  );
  const selectPool = db.prepare<[string], PoolRouteRow>("SELECT * FROM pool_products WHERE product_key = ?");
  const reenqueueAccounts = db.prepare("INSERT INTO route_outbox(kind, k1, k2, created_at) SELECT 'account', account_id, '', ? FROM accounts WHERE home_instance = ? AND version > 0");
  const reenqueuePool = db.prepare("INSERT INTO route_outbox(kind, k1, k2, created_at) SELECT 'pool', product_key, '', ? FROM pool_products WHERE home = ?");
  const poolPage = db.prepare<[string, number], PoolRouteRow>("SELECT * FROM pool_products WHERE product_key > ? ORDER BY product_key LIMIT ?");
  const enqueue = db.prepare("INSERT INTO route_outbox(kind, k1, k2, created_at) VALUES (?, ?, ?, ?)");
  const selectDevice = db.prepare<[string, string], DeviceRouteRow>(
    "SELECT product_key, device_name, holder, generation, nearest, committed_by, committed_at FROM device_routes WHERE product_key = ? AND device_name = ?",
  );
  const nearestDevices = db.prepare<[], { product_key: string; device_name: string; holder: string }>(
    "SELECT product_key, device_name, holder FROM device_routes WHERE nearest = 1",
  );
  const selectProduct = db.prepare<[string], ProductRouteRow>("SELECT * FROM product_routes WHERE product_key = ?");
  const selectInstance = db.prepare<[string], InstanceRouteRow>("SELECT * FROM instance_routes WHERE instance_id = ?");
  const allProducts = db.prepare<[], ProductRouteRow>("SELECT * FROM product_routes");
  const allInstances = db.prepare<[], InstanceRouteRow>("SELECT * FROM instance_routes");
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
  const outboxBatch = db.prepare<[number], { seq: number; kind: Kind; k1: string; k2: string }>(
    "SELECT seq, kind, k1, k2 FROM route_outbox ORDER BY seq LIMIT ?",
  );
  const ack = db.prepare("DELETE FROM route_outbox WHERE seq = ?");
  const depth = db.prepare<[], { n: number; oldest: number | null }>("SELECT count(*) AS n, min(created_at) AS oldest FROM route_outbox");
  const selectRevision = db.prepare<[], { last_revision: number }>("SELECT last_revision FROM replication_state WHERE id = 1");
  const setRevision = db.prepare("UPDATE replication_state SET last_revision = ?, updated_at = ? WHERE id = 1");
  const reenqueueDevices = db.prepare("INSERT INTO route_outbox(kind, k1, k2, created_at) SELECT 'device', product_key, device_name, ? FROM device_routes WHERE holder = ?");
  const reenqueueProducts = db.prepare("INSERT INTO route_outbox(kind, k1, k2, created_at) SELECT 'product', product_key, '', ? FROM product_routes WHERE home = ?");
  const reenqueueInstance = db.prepare("INSERT INTO route_outbox(kind, k1, k2, created_at) SELECT 'instance', instance_id, '', ? FROM instance_routes WHERE instance_id = ?");
  const counts = db.prepare<[], { devices: number; products: number; instances: number }>(
    `SELECT (SELECT count(*) FROM device_routes) AS devices,
            (SELECT count(*) FROM product_routes WHERE deleted = 0) AS products,
            (SELECT count(*) FROM instance_routes) AS instances`,
  );

  const store = (c: RouteChange, revision: number): boolean => {
    switch (c.kind) {
      case "device":
        return upsertDevice.run({ ...c.route, nearest: c.route.nearest ? 1 : 0, revision }).changes === 1;
      case "product":
        return upsertProduct.run({ ...c.route, deleted: c.route.deleted ? 1 : 0, candidates: JSON.stringify(c.route.candidates), revision }).changes === 1;
      case "instance":
        return upsertInstance.run({ ...c.route, revision }).changes === 1;
      case "account":
        return upsertAccount.run({ ...c.route, revision }).changes === 1;
      case "pool":
        return upsertPool.run({ ...c.route, topicsJson: JSON.stringify(c.route.topics), revision }).changes === 1;
    }
  };
  const current = (kind: Kind, k1: string, k2: string): RouteChange | undefined => {
    if (kind === "account") {
      const r = selectAccountRoute.get(k1);
      return r === undefined ? undefined : { kind, route: toAccountRoute(r) };
    }
    if (kind === "pool") {
      const r = selectPool.get(k1);
      return r === undefined ? undefined : { kind, route: toPoolRoute(r) };
    }
    if (kind === "device") {
      const r = selectDevice.get(k1, k2);
      return r === undefined ? undefined : { kind, route: toDeviceRoute(r) };
    }
    if (kind === "product") {
      const r = selectProduct.get(k1);
      return r === undefined ? undefined : { kind, route: toProductRoute(r) };
    }
    const r = selectInstance.get(k1);
    return r === undefined ? undefined : { kind, route: toInstanceRoute(r) };
  };

  return {
    /**
     * Records a route this daemon committed. Call inside the transaction of
     * the change itself. With `publish`, queues it for the stream (the
     * committing daemon publishes; one that only learns of a change, like a
     * source marking a device away, does not). True when it was newer.
     */
    commit(c: RouteChange, publish: boolean): boolean {
      let newer: boolean;
      try {
        newer = store(c, 0);
      } catch (e) {
        if (c.kind === "account" && isUniqueViolation(e)) {
          throw new AlreadyExistsError(`account_name: an account named "${c.route.accountName}" exists`, { field: "account_name" });
        }
        throw e;
      }
      if (newer && publish) {
        const [k1, k2] =
          c.kind === "device"
            ? [c.route.productKey, c.route.deviceName]
            : c.kind === "product" || c.kind === "pool"
              ? [c.route.productKey, ""]
              : c.kind === "account"
                ? [c.route.accountId, ""]
                : [c.route.instanceId, ""];
        enqueue.run(c.kind, k1, k2, now());
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
            if (store(r.change, r.revision)) applied.push(r.change);
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
    /** Forgets the stream position (the stream was recreated): the next watch reads it all again. */
    resetRevision(): void {
      setRevision.run(0, now());
    },
    /** Queues every route this instance is the authority for (the stream lost them). */
    republishOwn(self: string): number {
      const t = now();
      return db.transaction(() => {
        let n = reenqueueDevices.run(t, self).changes;
        n += reenqueueProducts.run(t, self).changes;
        n += reenqueueInstance.run(t, self).changes;
        n += reenqueueAccounts.run(t, self).changes;
        n += reenqueuePool.run(t, self).changes;
        return n;
      })();
    },
    device(productKey: string, deviceName: string): DeviceRoute | undefined {
      const r = selectDevice.get(productKey, deviceName);
      return r === undefined ? undefined : toDeviceRoute(r);
    },
    /** Device routes placed by the nearest strategy (start-up load flags them in the table). */
    *nearestDevices(): IterableIterator<{ productKey: string; deviceName: string; holder: string }> {
      for (const r of nearestDevices.iterate()) yield { productKey: r.product_key, deviceName: r.device_name, holder: r.holder };
    },
    product(productKey: string): ProductRoute | undefined {
      const r = selectProduct.get(productKey);
      return r === undefined ? undefined : toProductRoute(r);
    },
    products(): ProductRoute[] {
      return allProducts.all().map(toProductRoute);
    },
    /** A product of the public pool (R17). */
    pool(productKey: string): PoolRoute | undefined {
      const r = selectPool.get(productKey);
      return r === undefined ? undefined : toPoolRoute(r);
    },
    poolPage(size: number, pageToken: string): Page<PoolRoute> {
      const after = decodePageToken(pageToken) ?? "";
      return toPage(poolPage.all(after, size + 1).map(toPoolRoute), size, (p) => p.productKey);
    },
    instances(): InstanceRoute[] {
      return allInstances.all().map(toInstanceRoute);
    },
    /**
     * Every device route, in blocks of at most `blockSize` records: one
     * string each, records "productKey holder deviceName" separated by "\n".
     */
    *deviceBlocks(blockSize = 65536): IterableIterator<string> {
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
    },
    /** The oldest queued routes with their current records. */
    outbox(limit: number): OutboxItem[] {
      const items: OutboxItem[] = [];
      for (const row of outboxBatch.all(limit)) {
        const change = current(row.kind, row.k1, row.k2);
        if (change === undefined) ack.run(row.seq);
        else items.push({ seq: row.seq, change });
      }
      return items;
    },
    ackOutbox(seqs: number[]): void {
      db.transaction(() => {
        for (const s of seqs) ack.run(s);
      })();
    },
    outboxDepth(): { rows: number; oldestMs: number } {
      const d = depth.get()!;
      return { rows: d.n, oldestMs: d.oldest ?? 0 };
    },
    counts(): { devices: number; products: number; instances: number } {
      return counts.get()!;
    },
  };
}
