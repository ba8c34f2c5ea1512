import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { IotfedError, ACCOUNT_ID_RE, ACCOUNT_NAME_RE, DEVICE_NAME_RE, PRODUCT_KEY_RE, type DataFormat, type DeviceRelease, type NodeType, type ProductStatus, type RouteChange, type TopicOperation } from "../domain/index.js";
import { RouteRecordSchema, type DeviceRelease as DeviceReleaseMessage } from "../gen/iotfed/v1/replication_pb.js";
import { attested, RECORD_CONTEXT, releaseFromWire, releaseToWire, type SigningKey } from "../trust/index.js";

/*
 * The wire form of each kind of replicated record, in one file: its bucket
 * key (keyOf), its message (encodeRecord) and how a message read back is
 * checked (decodeRecord). How each kind is stored is in
 * internal/store/record-kinds.ts.
 */
import { encodeToken } from "./keys.js";

const INSTANCE_RE = /^[A-Za-z0-9-]{2,64}$/;
const REGION_RE = /^[a-z0-9-]{2,32}$/;
const HOST_RE = /^[A-Za-z0-9.:-]{1,100}$/;
const HOST_PORT_RE = /^[A-Za-z0-9.:[\]-]{1,100}:[0-9]{1,5}$/;

/** The bucket key of a route. */
export function keyOf(c: RouteChange): string {
  switch (c.kind) {
    case "device":
      return `dev.${encodeToken(c.route.productKey)}.${encodeToken(c.route.deviceName)}`;
    case "product":
      return `prod.${encodeToken(c.route.productKey)}`;
    case "instance":
      return `inst.${encodeToken(c.route.instanceId)}`;
    case "account":
      return `acct.${encodeToken(c.route.accountId)}`;
    case "pool":
      return `pool.${encodeToken(c.route.productKey)}`;
  }
}

/** A record from the stream that cannot be applied; it is counted and skipped, never applied. */
export class RecordError extends IotfedError {
  override readonly name = "RecordError";
  readonly code = "INVALID_ARGUMENT";
}

/** A record's signature as read from the stream. */
export interface RecordSignature {
  signer: string;
  keyId: Uint8Array;
  signature: Uint8Array;
}

/** A record read from the stream: the route, its signature if it has one, and the bytes the signature covers. */
export interface OpenedRecord {
  change: RouteChange;
  signature: RecordSignature | undefined;
  signed: Uint8Array;
}

/**
 * Serialises a route and signs it with `key` (see RouteRecord in
 * proto/iotfed/v1/replication.proto): the record's bytes, then its
 * signature as field 15 alone. Without a key the record goes unsigned.
 */
export function sealRecord(c: RouteChange, committedBy: string, key: SigningKey | undefined): Uint8Array {
  const body = encodeRecord(c, committedBy);
  if (key === undefined || (c.kind === "device" && attested(c.route))) return body; // a route its release attests needs no more

  const suffix = toBinary(RouteRecordSchema, create(RouteRecordSchema, { signature: { signer: key.instanceId, keyId: key.keyId, signature: key.sign(RECORD_CONTEXT, body) } }));
  return Buffer.concat([body, suffix]);
}

/**
 * Parses a record read under `key` (decodeRecord's checks) and finds its
 * signature: the bytes it covers are those before the signature's own
 * encoding, which must end the value.
 */
export function openRecord(key: string, bytes: Uint8Array): OpenedRecord {
  const m = parse(bytes);
  const change = routeOf(key, m);
  const s = m.signature;
  if (s === undefined) return { change, signature: undefined, signed: bytes };
  const suffix = toBinary(RouteRecordSchema, create(RouteRecordSchema, { signature: s }));
  const cut = bytes.length - suffix.length;
  check(cut > 0 && Buffer.from(bytes.buffer, bytes.byteOffset + cut, suffix.length).equals(suffix), "signature: not the last field of the record");
  return { change, signature: { signer: s.signer, keyId: s.keyId, signature: s.signature }, signed: bytes.subarray(0, cut) };
}

/** Serialises a route for the stream, unsigned. Only route fields exist in the message: no secret can travel. */
export function encodeRecord(c: RouteChange, committedBy: string): Uint8Array {
  const at = BigInt(c.route.committedAt);
  switch (c.kind) {
    case "device":
      return toBinary(
        RouteRecordSchema,
        create(RouteRecordSchema, {
          record: {
            case: "device",
            value: {
              productKey: c.route.productKey,
              deviceName: c.route.deviceName,
              holder: c.route.holder,
              generation: BigInt(c.route.generation),
              nearest: c.route.nearest,
              ...(c.route.release === undefined ? {} : { release: releaseToWire(c.route.release) }),
            },
          },
          committedBy,
          committedAtMs: at,
        }),
      );
    case "product": {
      const r = c.route;
      return toBinary(
        RouteRecordSchema,
        create(RouteRecordSchema, {
          record: {
            case: "product",
            value: {
              productKey: r.productKey,
              home: r.home,
              version: BigInt(r.version),
              deleted: r.deleted,
              candidates: r.candidates,
              accountId: r.accountId,
              productName: r.productName,
              nodeType: r.nodeType,
              status: r.status,
              regionId: r.regionId,
            },
          },
          committedBy,
          committedAtMs: at,
        }),
      );
    }
    case "instance": {
      const r = c.route;
      return toBinary(
        RouteRecordSchema,
        create(RouteRecordSchema, {
          record: {
            case: "instance",
            value: { instanceId: r.instanceId, regionId: r.regionId, mqttHost: r.mqttHost, mqttPort: r.mqttPort, version: BigInt(r.version), certificates: r.certificates, peerAddress: r.peerAddress, kind: r.kind },
          },
          committedBy,
          committedAtMs: at,
        }),
      );
    }
    case "account": {
      const r = c.route;
      return toBinary(
        RouteRecordSchema,
        create(RouteRecordSchema, {
          record: { case: "account", value: { accountId: r.accountId, accountName: r.accountName, home: r.home, version: BigInt(r.version), createTimeMs: BigInt(r.createdAt) } },
          committedBy,
          committedAtMs: at,
        }),
      );
    }
    case "pool": {
      const r = c.route;
      return toBinary(
        RouteRecordSchema,
        create(RouteRecordSchema, {
          record: {
            case: "pool",
            value: {
              productKey: r.productKey,
              accountId: r.accountId,
              accountName: r.accountName,
              productName: r.productName,
              nodeType: r.nodeType,
              dataFormat: r.dataFormat,
              description: r.description,
              home: r.home,
              version: BigInt(r.version),
              topics: r.topics.map((t) => ({ topicShortName: t.shortName, operation: t.operation, description: t.description })),
              thingModel: r.thingModel,
              poolTimeMs: BigInt(r.pooledAt),
            },
          },
          committedBy,
          committedAtMs: at,
        }),
      );
    }
  }
}

const check = (ok: boolean, what: string): void => {
  if (!ok) throw new RecordError(what);
};
/** A wire string as one of the domain's values, or a RecordError naming the field. */
const oneOf = <T extends string>(values: readonly T[], v: string, field: string): T => {
  check((values as readonly string[]).includes(v), `${field} must be one of ${values.join(", ")}`);
  return v as T;
};
const NODE_TYPES: readonly NodeType[] = ["device", "gateway"];
const PRODUCT_STATUSES: readonly ProductStatus[] = ["developing", "published"];
const DATA_FORMATS: readonly DataFormat[] = ["alink-json", "custom"];
const TOPIC_OPERATIONS: readonly TopicOperation[] = ["pub", "sub", "all"];

/**
 * Parses and validates a record read under `key`: fields must be well
 * formed and the key must be the record's own key (a record cannot
 * overwrite another route by being stored under its key).
 */
export function decodeRecord(key: string, bytes: Uint8Array): RouteChange {
  return routeOf(key, parse(bytes));
}

function parse(bytes: Uint8Array) {
  try {
    return fromBinary(RouteRecordSchema, bytes);
  } catch (e) {
    throw new RecordError(`undecodable record: ${(e as Error).message}`);
  }
}

function releaseOf(r: DeviceReleaseMessage | undefined): DeviceRelease | undefined {
  if (r === undefined) return undefined;
  const out = releaseFromWire(r, "device.release");
  check(typeof out !== "string", out as string);
  return out as DeviceRelease;
}

function routeOf(key: string, m: ReturnType<typeof parse>): RouteChange {
  const committedBy = m.committedBy;
  const committedAt = Number(m.committedAtMs);
  let c: RouteChange;
  switch (m.record.case) {
    case "device": {
      const d = m.record.value;
      check(PRODUCT_KEY_RE.test(d.productKey), "device.product_key is not a ProductKey");
      check(DEVICE_NAME_RE.test(d.deviceName), "device.device_name is not a DeviceName");
      check(INSTANCE_RE.test(d.holder), "device.holder is not an instance id");
      check(d.generation >= 1n && d.generation < 2n ** 53n, "device.generation must be at least 1");
      const release = releaseOf(d.release);
      c = {
        kind: "device",
        route: { productKey: d.productKey, deviceName: d.deviceName, holder: d.holder, generation: Number(d.generation), nearest: d.nearest, ...(release === undefined ? {} : { release }), committedBy, committedAt },
      };
      break;
    }
    case "product": {
      const p = m.record.value;
      check(PRODUCT_KEY_RE.test(p.productKey), "product.product_key is not a ProductKey");
      check(INSTANCE_RE.test(p.home), "product.home is not an instance id");
      check(p.version >= 1n && p.version < 2n ** 53n, "product.version must be at least 1");
      check(p.candidates.length <= 64 && p.candidates.every((x) => INSTANCE_RE.test(x)), "product.candidates must be at most 64 instance ids");
      check(p.productName.length <= 64 && p.accountId.length <= 64 && p.nodeType.length <= 16 && p.status.length <= 16 && p.regionId.length <= 32, "product catalogue field too long");
      c = {
        kind: "product",
        route: {
          productKey: p.productKey,
          home: p.home,
          version: Number(p.version),
          deleted: p.deleted,
          candidates: [...p.candidates],
          accountId: p.accountId,
          productName: p.productName,
          nodeType: oneOf(NODE_TYPES, p.nodeType, "product.node_type"),
          status: oneOf(PRODUCT_STATUSES, p.status, "product.status"),
          regionId: p.regionId,
          committedBy,
          committedAt,
        },
      };
      break;
    }
    case "instance": {
      const i = m.record.value;
      check(INSTANCE_RE.test(i.instanceId), "instance.instance_id is not an instance id");
      check(REGION_RE.test(i.regionId), "instance.region_id is not a region id");
      check(HOST_RE.test(i.mqttHost), "instance.mqtt_host is not a host");
      check(i.mqttPort >= 1 && i.mqttPort <= 65535, "instance.mqtt_port must be 1-65535");
      check(i.version >= 1n && i.version < 2n ** 53n, "instance.version must be at least 1");
      check(i.certificates.length <= 4 && i.certificates.every((x) => x.length <= 8192), "instance.certificates: at most 4 of at most 8 KiB");
      check(i.peerAddress === "" || HOST_PORT_RE.test(i.peerAddress), "instance.peer_address is not host:port");
      check(["", "legacy-public", "public", "enterprise"].includes(i.kind), "instance.kind must be legacy-public, public or enterprise");
      c = {
        kind: "instance",
        route: {
          instanceId: i.instanceId,
          regionId: i.regionId,
          mqttHost: i.mqttHost,
          mqttPort: i.mqttPort,
          version: Number(i.version),
          certificates: i.certificates,
          peerAddress: i.peerAddress,
          kind: i.kind,
          committedAt,
        },
      };
      break;
    }
    case "account": {
      const a = m.record.value;
      check(ACCOUNT_ID_RE.test(a.accountId), "account.account_id is not an account id");
      check(ACCOUNT_NAME_RE.test(a.accountName), "account.account_name is not an account name");
      check(INSTANCE_RE.test(a.home), "account.home is not an instance id");
      check(a.version >= 1n && a.version < 2n ** 53n, "account.version must be at least 1");
      c = { kind: "account", route: { accountId: a.accountId, accountName: a.accountName, home: a.home, version: Number(a.version), createdAt: Number(a.createTimeMs), committedAt } };
      break;
    }
    case "pool": {
      const p = m.record.value;
      check(PRODUCT_KEY_RE.test(p.productKey), "pool.product_key is not a ProductKey");
      check(ACCOUNT_ID_RE.test(p.accountId), "pool.account_id is not an account id");
      check(INSTANCE_RE.test(p.home), "pool.home is not an instance id");
      check(p.version >= 1n && p.version < 2n ** 53n, "pool.version must be at least 1");
      check(p.productName.length <= 64 && p.accountName.length <= 64 && p.nodeType.length <= 16 && p.dataFormat.length <= 16 && p.description.length <= 256, "pool field too long");
      check(p.topics.length <= 1000, "pool.topics: too many");
      c = {
        kind: "pool",
        route: {
          productKey: p.productKey,
          accountId: p.accountId,
          accountName: p.accountName,
          productName: p.productName,
          nodeType: oneOf(NODE_TYPES, p.nodeType, "pool.node_type"),
          dataFormat: oneOf(DATA_FORMATS, p.dataFormat, "pool.data_format"),
          description: p.description,
          home: p.home,
          version: Number(p.version),
          topics: p.topics.map((t, i) => ({ shortName: t.topicShortName, operation: oneOf(TOPIC_OPERATIONS, t.operation, `pool.topics[${i}].operation`), description: t.description })),
          thingModel: p.thingModel,
          pooledAt: Number(p.poolTimeMs),
          committedBy,
          committedAt,
        },
      };
      break;
    }
    default:
      throw new RecordError("record holds no route");
  }
  check(keyOf(c) === key, `record for ${keyOf(c)} stored under ${key}`);
  return c;
}
