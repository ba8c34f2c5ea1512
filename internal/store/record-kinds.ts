import type { Db } from "./db.js";
import { accountRecordKind } from "./accounts.js";
import type { DeviceRelease, DeviceRoute, InstanceRoute, PoolRoute, ProductRoute, RouteChange } from "../domain/index.js";

/** The kinds of replicated record (ARCHITECTURE.md "Three planes": the replication plane). */
export type RecordKindName = RouteChange["kind"];
/** The record of one kind. */
export type RecordOf<K extends RecordKindName> = Extract<RouteChange, { kind: K }>["route"];

/**
 * How one kind of replicated record is kept in SQLite, described once:
 * its key in the outbox, how a newer record is upserted (a record is kept
 * only when its generation or version is higher than the stored one), how a
 * row reads back, and which rows this instance is the authority for. The
 * bucket key and the wire form live beside it in internal/replication/codec.ts.
 */
export interface RecordKind<K extends RecordKindName> {
  readonly kind: K;
  /** The outbox key (k1, k2) of a record. */
  key(r: RecordOf<K>): [string, string];
  /** Stores the record when it is newer; true when it was. `revision` is its stream revision (0 for own commits). */
  upsert(r: RecordOf<K>, revision: number): boolean;
  /** The stored record under the outbox key. */
  get(k1: string, k2: string): RecordOf<K> | undefined;
  /** SELECT of `k1, k2` of every record the instance bound to `@self` publishes. */
  readonly ownedKeysSql: string;
}

interface DeviceRouteRow {
  product_key: string;
  device_name: string;
  holder: string;
  generation: number;
  nearest: number;
  release: Buffer | null;
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
  node_type: ProductRoute["nodeType"];
  status: ProductRoute["status"];
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
  certificates: string;
  peer_address: string;
  kind: string;
  committed_at: number;
}
interface PoolRouteRow {
  product_key: string;
  account_id: string;
  account_name: string;
  product_name: string;
  node_type: PoolRoute["nodeType"];
  data_format: PoolRoute["dataFormat"];
  description: string;
  home: string;
  version: number;
  topics: string;
  thing_model: string;
  pooled_at: number;
  committed_by: string;
  committed_at: number;
}

function deviceKind(db: Db): RecordKind<"device"> {
  const upsert = db.prepare(
    `INSERT INTO device_routes(product_key, device_name, holder, generation, nearest, release, committed_by, committed_at, revision)
     VALUES (@productKey, @deviceName, @holder, @generation, @nearest, @release, @committedBy, @committedAt, @revision)
     ON CONFLICT DO UPDATE SET holder = excluded.holder, generation = excluded.generation, nearest = excluded.nearest, release = excluded.release,
       committed_by = excluded.committed_by, committed_at = excluded.committed_at, revision = excluded.revision
     WHERE excluded.generation > device_routes.generation`,
  );
  const select = db.prepare<[string, string], DeviceRouteRow>(
    "SELECT product_key, device_name, holder, generation, nearest, release, committed_by, committed_at FROM device_routes WHERE product_key = ? AND device_name = ?",
  );
  return {
    kind: "device",
    key: (r) => [r.productKey, r.deviceName],
    upsert: (r, revision) =>
      upsert.run({
        productKey: r.productKey,
        deviceName: r.deviceName,
        holder: r.holder,
        generation: r.generation,
        nearest: r.nearest ? 1 : 0,
        release: r.release === undefined ? null : encodeRelease(r.release),
        committedBy: r.committedBy,
        committedAt: r.committedAt,
        revision,
      }).changes === 1,
    get(k1, k2) {
      const r = select.get(k1, k2);
      return r === undefined ? undefined : toDeviceRoute(r);
    },
    ownedKeysSql: "SELECT product_key AS k1, device_name AS k2 FROM device_routes WHERE holder = @self",
  };
}

/**
 * A release proof as kept in device_routes.release: from (length-prefixed),
 * generation (8 bytes), key id (16), root signature (length-prefixed),
 * index and leaves (4 each), the path's 32-byte hashes, then the nearest flag
 * (1 byte), the account (length-prefixed) and the holder's key id (16) and root signature (length-prefixed),
 * when it signed one.
 */
function encodeRelease(r: DeviceRelease): Buffer {
  const from = Buffer.from(r.from);
  const head = Buffer.alloc(1 + from.length + 8 + 16 + 2);
  let at = head.writeUInt8(from.length, 0);
  at += from.copy(head, at);
  at = head.writeBigUInt64BE(BigInt(r.generation), at);
  at += Buffer.from(r.keyId).copy(head, at, 0, 16);
  head.writeUInt16BE(r.rootSignature.length, at);
  const tail = Buffer.alloc(9);
  tail.writeUInt32BE(r.index, 0);
  tail.writeUInt32BE(r.leaves, 4);
  tail.writeUInt8(r.path.length, 8);
  const holder = r.holderRootSignature === undefined ? Buffer.alloc(0) : Buffer.concat([Buffer.from(r.holderKeyId ?? new Uint8Array(16)), Buffer.from([r.holderRootSignature.length >> 8, r.holderRootSignature.length & 255]), r.holderRootSignature]);
  const account = Buffer.from(r.account);
  return Buffer.concat([head, r.rootSignature, tail, ...r.path, Buffer.from([r.nearest ? 1 : 0, account.length]), account, holder]);
}
function decodeRelease(b: Buffer): DeviceRelease {
  let at = 0;
  const fromLen = b.readUInt8(at++);
  const from = b.subarray(at, (at += fromLen)).toString();
  const generation = Number(b.readBigUInt64BE(at));
  at += 8;
  const keyId = b.subarray(at, (at += 16));
  const sigLen = b.readUInt16BE(at);
  at += 2;
  const rootSignature = b.subarray(at, (at += sigLen));
  const index = b.readUInt32BE(at);
  const leaves = b.readUInt32BE(at + 4);
  const n = b.readUInt8(at + 8);
  at += 9;
  const path = Array.from({ length: n }, (_, i) => b.subarray(at + 32 * i, at + 32 * (i + 1)));
  at += 32 * n;
  const nearest = b.readUInt8(at++) === 1;
  const accountLen = b.readUInt8(at++);
  const account = b.subarray(at, (at += accountLen)).toString();
  if (at >= b.length) return { from, generation, keyId, rootSignature, index, leaves, path, nearest, account };
  const holderKeyId = b.subarray(at, (at += 16));
  const holderLen = b.readUInt16BE(at);
  at += 2;
  return { from, generation, keyId, rootSignature, index, leaves, path, nearest, account, holderKeyId, holderRootSignature: b.subarray(at, at + holderLen) };
}

const toDeviceRoute = (r: DeviceRouteRow): DeviceRoute => ({
  productKey: r.product_key,
  deviceName: r.device_name,
  holder: r.holder,
  generation: r.generation,
  nearest: r.nearest === 1,
  ...(r.release === null ? {} : { release: decodeRelease(r.release) }),
  committedBy: r.committed_by,
  committedAt: r.committed_at,
});
export const toProductRoute = (r: ProductRouteRow): ProductRoute => ({
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
export const toInstanceRoute = (r: InstanceRouteRow): InstanceRoute => ({
  instanceId: r.instance_id,
  regionId: r.region_id,
  mqttHost: r.mqtt_host,
  mqttPort: r.mqtt_port,
  version: r.version,
  certificates: (JSON.parse(r.certificates) as string[]).map((c) => Buffer.from(c, "base64")),
  peerAddress: r.peer_address,
  kind: r.kind,
  committedAt: r.committed_at,
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
export type { DeviceRouteRow, ProductRouteRow, InstanceRouteRow, PoolRouteRow };

function productKind(db: Db): RecordKind<"product"> {
  const upsert = db.prepare(
    `INSERT INTO product_routes(product_key, home, version, deleted, candidates, account_id, product_name, node_type, status, region_id, committed_by, committed_at, revision)
     VALUES (@productKey, @home, @version, @deleted, @candidates, @accountId, @productName, @nodeType, @status, @regionId, @committedBy, @committedAt, @revision)
     ON CONFLICT DO UPDATE SET home = excluded.home, version = excluded.version, deleted = excluded.deleted, candidates = excluded.candidates,
       account_id = excluded.account_id, product_name = excluded.product_name, node_type = excluded.node_type, status = excluded.status,
       region_id = excluded.region_id, committed_by = excluded.committed_by, committed_at = excluded.committed_at, revision = excluded.revision
     WHERE excluded.version > product_routes.version`,
  );
  const select = db.prepare<[string], ProductRouteRow>("SELECT * FROM product_routes WHERE product_key = ?");
  return {
    kind: "product",
    key: (r) => [r.productKey, ""],
    upsert: (r, revision) => upsert.run({ ...r, deleted: r.deleted ? 1 : 0, candidates: JSON.stringify(r.candidates), revision }).changes === 1,
    get(k1) {
      const r = select.get(k1);
      return r === undefined ? undefined : toProductRoute(r);
    },
    ownedKeysSql: "SELECT product_key AS k1, '' AS k2 FROM product_routes WHERE home = @self",
  };
}

function instanceKind(db: Db): RecordKind<"instance"> {
  const upsert = db.prepare(
    `INSERT INTO instance_routes(instance_id, region_id, mqtt_host, mqtt_port, version, certificates, peer_address, kind, committed_at, revision)
     VALUES (@instanceId, @regionId, @mqttHost, @mqttPort, @version, @certificates, @peerAddress, @kind, @committedAt, @revision)
     ON CONFLICT DO UPDATE SET region_id = excluded.region_id, mqtt_host = excluded.mqtt_host, mqtt_port = excluded.mqtt_port,
       version = excluded.version, certificates = excluded.certificates, peer_address = excluded.peer_address, kind = excluded.kind,
       committed_at = excluded.committed_at, revision = excluded.revision
     WHERE excluded.version > instance_routes.version`,
  );
  const select = db.prepare<[string], InstanceRouteRow>("SELECT * FROM instance_routes WHERE instance_id = ?");
  return {
    kind: "instance",
    key: (r) => [r.instanceId, ""],
    upsert: (r, revision) => upsert.run({ ...r, certificates: JSON.stringify(r.certificates.map((c) => Buffer.from(c).toString("base64"))), revision }).changes === 1,
    get(k1) {
      const r = select.get(k1);
      return r === undefined ? undefined : toInstanceRoute(r);
    },
    ownedKeysSql: "SELECT instance_id AS k1, '' AS k2 FROM instance_routes WHERE instance_id = @self",
  };
}

function poolKind(db: Db): RecordKind<"pool"> {
  const upsert = db.prepare(
    `INSERT INTO pool_products(product_key, account_id, account_name, product_name, node_type, data_format, description, home, version, topics, thing_model, pooled_at, committed_by, committed_at, revision)
     VALUES (@productKey, @accountId, @accountName, @productName, @nodeType, @dataFormat, @description, @home, @version, @topicsJson, @thingModel, @pooledAt, @committedBy, @committedAt, @revision)
     ON CONFLICT DO UPDATE SET account_id = excluded.account_id, account_name = excluded.account_name, product_name = excluded.product_name,
       node_type = excluded.node_type, data_format = excluded.data_format, description = excluded.description, home = excluded.home,
       version = excluded.version, topics = excluded.topics, thing_model = excluded.thing_model, committed_by = excluded.committed_by,
       committed_at = excluded.committed_at, revision = excluded.revision
     WHERE excluded.version > pool_products.version`,
  );
  const select = db.prepare<[string], PoolRouteRow>("SELECT * FROM pool_products WHERE product_key = ?");
  return {
    kind: "pool",
    key: (r) => [r.productKey, ""],
    upsert: (r, revision) => upsert.run({ ...r, topicsJson: JSON.stringify(r.topics), revision }).changes === 1,
    get(k1) {
      const r = select.get(k1);
      return r === undefined ? undefined : toPoolRoute(r);
    },
    ownedKeysSql: "SELECT product_key AS k1, '' AS k2 FROM pool_products WHERE home = @self",
  };
}

export type RecordKinds = { [K in RecordKindName]: RecordKind<K> };

/** Every kind of replicated record. A new kind is one entry here (and its table, type and wire form). */
export function recordKinds(db: Db): RecordKinds {
  return { device: deviceKind(db), product: productKind(db), instance: instanceKind(db), account: accountRecordKind(db), pool: poolKind(db) };
}
