import { releaseFromWire, releaseToWire, signBundle, type SigningKey } from "../trust/index.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { DeviceCertificateSchema, ProductBundleSchema, DeviceCertificate as WireCert, ProductBundle as WireBundle } from "../gen/iotfed/v1/peer_pb.js";
import {
  DEVICE_SECRET_LENGTH,
  InvalidArgumentError,
  checkDeviceName,
  checkProductKey,
  type DataFormat,
  type DeviceCertificate,
  type DeviceRuntime,
  type NodeType,
  type ProductBundle,
  type ProductStatus,
  type ScriptType,
  type TopicOperation,
} from "../domain/index.js";

export function bundleToWire(b: ProductBundle): MessageInitShape<typeof ProductBundleSchema> {
  return {
    productKey: b.productKey,
    accountId: b.accountId,
    accountName: b.accountName,
    productName: b.productName,
    nodeType: b.nodeType,
    dataFormat: b.dataFormat,
    authType: b.authType,
    status: b.status,
    description: b.description,
    ownerInstanceId: b.ownerInstanceId,
    version: BigInt(b.version),
    candidates: b.candidates,
    topics: b.topics.map((t) => ({ topicShortName: t.shortName, operation: t.operation, description: t.description })),
    thingModel: b.thingModel,
    scriptType: b.script?.scriptType ?? "",
    scriptContent: b.script?.content ?? "",
    ownerCertificate: b.ownerSignature?.certificate ?? new Uint8Array(),
    ownerSignature: b.ownerSignature?.signature ?? new Uint8Array(),
  };
}

/**
 * A bundle as it goes to a peer: the owner signs its own as it sends; a
 * forwarder relays the owner's signature it keeps with its copy.
 */
export function signedBundle(b: ProductBundle, key: SigningKey | undefined): ProductBundle {
  if (key === undefined || b.ownerInstanceId !== key.instanceId) return b;
  return { ...b, ownerSignature: signBundle(key, b) };
}

function oneOf<T extends string>(field: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v)) throw new InvalidArgumentError(field, `must be one of ${allowed.join(", ")}`);
  return v as T;
}

const INSTANCE_ID_RE = /^[A-Za-z0-9-]{2,64}$/;
function checkCandidateIds(ids: string[]): string[] {
  if (ids.length > 64) throw new InvalidArgumentError("product.candidates", "holds more than 64 instances");
  ids.forEach((id, i) => {
    if (!INSTANCE_ID_RE.test(id)) throw new InvalidArgumentError(`product.candidates[${i}]`, "is not an instance id");
  });
  return [...ids];
}

/** Checks a bundle from a peer as strictly as the admin API checks its own input. */
export function bundleFromWire(w: WireBundle | undefined): ProductBundle {
  if (w === undefined) throw new InvalidArgumentError("product", "is required");
  return {
    productKey: checkProductKey(w.productKey, "product.product_key"),
    accountId: w.accountId,
    accountName: w.accountName,
    productName: w.productName,
    nodeType: oneOf<NodeType>("product.node_type", w.nodeType, ["device", "gateway"]),
    dataFormat: oneOf<DataFormat>("product.data_format", w.dataFormat, ["alink-json", "custom"]),
    authType: oneOf("product.auth_type", w.authType, ["device-secret"]),
    status: oneOf<ProductStatus>("product.status", w.status, ["developing", "published"]),
    description: w.description,
    ownerInstanceId: w.ownerInstanceId,
    version: Number(w.version),
    candidates: checkCandidateIds(w.candidates),
    topics: w.topics.map((t, i) => ({
      shortName: t.topicShortName,
      operation: oneOf<TopicOperation>(`product.topics[${i}].operation`, t.operation, ["pub", "sub", "all"]),
      description: t.description,
    })),
    thingModel: w.thingModel,
    script: w.scriptType === "" ? undefined : { scriptType: oneOf<ScriptType>("product.script_type", w.scriptType, ["javascript", "python", "php"]), content: w.scriptContent },
    ownerSignature: w.ownerSignature.length === 0 ? undefined : { certificate: w.ownerCertificate, signature: w.ownerSignature },
  };
}

export function certToWire(c: DeviceCertificate): MessageInitShape<typeof DeviceCertificateSchema> {
  return {
    deviceName: c.deviceName,
    deviceSecret: c.deviceSecret,
    iotId: c.iotId,
    generation: BigInt(c.generation),
    homeInstanceId: c.homeInstance,
    nickname: c.nickname,
    createTimeMs: BigInt(c.createdAt),
    ...(c.acquired === undefined ? {} : { acquired: releaseToWire(c.acquired) }),
    ...(c.runtime === undefined
      ? {}
      : {
          runtime: {
            properties: c.runtime.properties.map((p) => ({ identifier: p.identifier, valueJson: p.value, timeMs: BigInt(p.time) })),
            shadowJson: c.runtime.shadow?.json ?? "",
            shadowVersion: BigInt(c.runtime.shadow?.version ?? 0),
          },
        }),
  };
}

const MAX_RUNTIME_PROPERTIES = 1000;
const MAX_VALUE_BYTES = 64 * 1024;
const MAX_SHADOW_BYTES = 16 * 1024;
const PROPERTY_ID_RE = /^[A-Za-z0-9_]{1,50}$/;

/** The runtime data a migrating device brings: well-formed and bounded, each value JSON. */
function runtimeFromWire(w: NonNullable<WireCert["runtime"]>, at: string): DeviceRuntime {
  if (w.properties.length > MAX_RUNTIME_PROPERTIES) throw new InvalidArgumentError(`${at}.properties`, `holds more than ${MAX_RUNTIME_PROPERTIES} values`);
  const json = (text: string, field: string, max: number): void => {
    if (Buffer.byteLength(text) > max) throw new InvalidArgumentError(field, `must be at most ${max} bytes`);
    try {
      JSON.parse(text);
    } catch {
      throw new InvalidArgumentError(field, "is not valid JSON");
    }
  };
  const properties = w.properties.map((p, i) => {
    if (!PROPERTY_ID_RE.test(p.identifier)) throw new InvalidArgumentError(`${at}.properties[${i}].identifier`, "is not a thing-model identifier");
    json(p.valueJson, `${at}.properties[${i}].value_json`, MAX_VALUE_BYTES);
    if (p.timeMs < 0n) throw new InvalidArgumentError(`${at}.properties[${i}].time_ms`, "must not be negative");
    return { identifier: p.identifier, value: p.valueJson, time: Number(p.timeMs) };
  });
  if (w.shadowVersion === 0n) return { properties, shadow: undefined };
  json(w.shadowJson, `${at}.shadow_json`, MAX_SHADOW_BYTES);
  return { properties, shadow: { json: w.shadowJson, version: Number(w.shadowVersion) } };
}

export function certFromWire(w: WireCert, i: number): DeviceCertificate {
  checkDeviceName(w.deviceName, `devices[${i}].device_name`);
  if (w.deviceSecret.length !== DEVICE_SECRET_LENGTH) throw new InvalidArgumentError(`devices[${i}].device_secret`, `must be ${DEVICE_SECRET_LENGTH} characters`);
  if (w.generation < 1n) throw new InvalidArgumentError(`devices[${i}].generation`, "must be at least 1");
  if (w.iotId === "" || w.homeInstanceId === "") throw new InvalidArgumentError(`devices[${i}]`, "iot_id and home_instance_id are required");
  const acquired = w.acquired === undefined ? undefined : releaseFromWire(w.acquired, `devices[${i}].acquired`);
  if (typeof acquired === "string") throw new InvalidArgumentError(`devices[${i}].acquired`, acquired);
  return {
    ...(acquired === undefined ? {} : { acquired }),
    ...(w.runtime === undefined ? {} : { runtime: runtimeFromWire(w.runtime, `devices[${i}].runtime`) }),
    deviceName: w.deviceName,
    deviceSecret: w.deviceSecret,
    iotId: w.iotId,
    generation: Number(w.generation),
    homeInstance: w.homeInstanceId,
    nickname: w.nickname,
    createdAt: Number(w.createTimeMs),
  };
}
