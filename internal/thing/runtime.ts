import { randomBytes } from "node:crypto";
import {
  ALINK_CODES,
  DeadlineExceededError,
  InvalidArgumentError,
  PreconditionError,
  ResourceExhaustedError,
  checkFields,
  checkPropertyPost,
  checkPropertySet,
  verifyMqttSign,
  type Device,
  type PostedProperty,
  type Product,
  type ThingModel,
} from "../domain/index.js";
import type { DeviceRef, RuntimeBatch, RuntimeDataRepo, TopologyRepo } from "../store/index.js";
import type { Metrics } from "../metrics/index.js";
import type { Logger } from "../log/index.js";
import { parseReply, parseRequest, parseThingTopic, propertySetTopic, replyPayload, requestPayload, serviceTopic, type AlinkReply, type ThingTopic } from "./alink.js";

/** How the runtime reaches devices: the broker(s) this daemon runs or drives. */
export interface ThingTransport {
  publish(topic: string, payload: string): void;
  /** Whether the device has its own session here now. */
  connected(productKey: string, deviceName: string): boolean;
}

/** What a device posted, once stored: for subscriptions (the owner's and grantees'). */
export type ThingData =
  | { kind: "property"; productKey: string; deviceName: string; properties: PostedProperty[] }
  | { kind: "event"; productKey: string; deviceName: string; identifier: string; eventType: string; output: string; time: number };

export interface ThingRuntimeOptions {
  products: { get(productKey: string): Product | undefined; version(productKey: string): number | undefined; thingModel(productKey: string): string };
  devices: {
    get(productKey: string, deviceName: string): Device | undefined;
    secret(productKey: string, deviceName: string): string;
    connected(productKey: string, deviceName: string, t: number): unknown;
    disconnected(productKey: string, deviceName: string, t: number): void;
  };
  runtime: Pick<RuntimeDataRepo, "record">;
  topology: TopologyRepo;
  /** Whether a device works here now (held, enabled): the broker's rule. */
  worksHere(productKey: string, deviceName: string): boolean;
  /** How long SetDeviceProperty and InvokeThingService wait for the device's reply. */
  callTimeoutMs: number;
  /** A sub-device's sign-in timestamp may be this far from the clock (0: not checked). */
  timestampWindowMs: number;
  onData?: (d: ThingData) => void;
  metrics: Metrics;
  logger: Logger;
  now?: () => number;
}

const key = (pk: string, dn: string): string => `${pk}\0${dn}`;
const MAX_PENDING_CALLS = 10_000;
const MAX_QUEUED = 50_000;

interface Queued {
  batch: RuntimeBatch;
  replies: (() => void)[];
  data: ThingData[];
}

/**
 * Devices' thing-model data (docs/guides/thing-model.md): property posts
 * and events checked against the product's thing model, stored at the
 * device's holder (many posts in one transaction) and answered on the
 * `_reply` topic with the platform's codes; property sets and service
 * calls sent to a device with the reply awaited; gateways adding
 * sub-devices (each proven by its own sign) and bringing them online
 * through their session.
 */
export function createThingRuntime(opts: ThingRuntimeOptions) {
  const { products, devices, metrics, logger } = opts;
  const now = opts.now ?? Date.now;
  const transports: ThingTransport[] = [];
  const models = new Map<string, { version: number; model: ThingModel }>();
  const pending = new Map<string, (r: AlinkReply) => void>();
  /** Sub-devices online through a gateway's session: sub → gateway, gateway → subs. */
  const subOnline = new Map<string, string>();
  const gatewaySubs = new Map<string, Set<string>>();
  let queued: Queued = { batch: { properties: [], events: [] }, replies: [], data: [] };
  let size = 0;
  let scheduled = false;

  const publish = (topic: string, payload: string): void => {
    for (const t of transports) t.publish(topic, payload);
  };
  const count = (kind: string, code: number): void => metrics.thingMessages.inc({ kind, code: String(code) });
  const reply = (topic: string, id: string, code: number, message: string, data: unknown = {}, method?: string): void => {
    publish(`${topic}_reply`, replyPayload({ id, code, data, message, method }));
  };

  /** The product's thing model, parsed once per product version. */
  function modelOf(productKey: string): ThingModel | undefined {
    const version = products.version(productKey);
    if (version === undefined) return undefined;
    const cached = models.get(productKey);
    if (cached !== undefined && cached.version === version) return cached.model;
    const model = JSON.parse(products.thingModel(productKey)) as ThingModel;
    models.set(productKey, { version, model });
    return model;
  }

  function flush(): void {
    scheduled = false;
    const q = queued;
    queued = { batch: { properties: [], events: [] }, replies: [], data: [] };
    size = 0;
    if (q.replies.length === 0) return;
    try {
      opts.runtime.record(q.batch);
    } catch (e) {
      logger.error({ err: (e as Error).message, posts: q.replies.length }, "thing data not stored");
      metrics.thingMessages.inc({ kind: "store", code: "500" }, q.replies.length);
      return;
    }
    for (const r of q.replies) r();
    if (opts.onData !== undefined) for (const d of q.data) opts.onData(d);
  }
  const enqueue = (add: (q: Queued) => void): void => {
    if (size >= MAX_QUEUED) flush();
    add(queued);
    size++;
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };

  const online = (pk: string, dn: string): boolean => subOnline.has(key(pk, dn)) || transports.some((t) => t.connected(pk, dn));

  /** A sub-device's own proof, as its MQTT sign-in would be (its DeviceSecret's HMAC). */
  function subDeviceSign(p: Record<string, unknown>, at: string): { ok: true; device: DeviceRef } | { ok: false; code: number; message: string } {
    const str = (k: string): string => (typeof p[k] === "string" ? (p[k]) : typeof p[k] === "number" ? String(p[k]) : "");
    const pk = str("productKey");
    const dn = str("deviceName");
    const signMethod = str("signMethod").toLowerCase();
    const timestamp = str("timestamp");
    if (pk === "" || dn === "") return { ok: false, code: ALINK_CODES.badRequest, message: `${at}: productKey and deviceName are required` };
    if (signMethod !== "hmacmd5" && signMethod !== "hmacsha1" && signMethod !== "hmacsha256") return { ok: false, code: ALINK_CODES.badRequest, message: `${at}.signMethod: must be hmacmd5, hmacsha1 or hmacsha256` };
    if (!/^\d{1,16}$/.test(timestamp)) return { ok: false, code: ALINK_CODES.badRequest, message: `${at}.timestamp: must be milliseconds` };
    if (opts.timestampWindowMs > 0 && Math.abs(now() - Number(timestamp)) > opts.timestampWindowMs) {
      return { ok: false, code: ALINK_CODES.subDeviceSign, message: `${at}.timestamp: more than ${opts.timestampWindowMs} ms from this instance's clock` };
    }
    const d = devices.get(pk, dn);
    if (d === undefined || !opts.worksHere(pk, dn)) return { ok: false, code: d?.disabled === true ? ALINK_CODES.deviceDisabled : ALINK_CODES.deviceNotFound, message: `${at}: ${pk}/${dn} ${d?.disabled === true ? "is disabled" : "is not held by this instance"}` };
    const sign = str("sign");
    if (!/^[0-9a-fA-F]{32,64}$/.test(sign) || !verifyMqttSign({ id: str("clientId"), securemode: "3", signmethod: signMethod, timestamp, productKey: pk, deviceName: dn, sign }, devices.secret(pk, dn))) {
      return { ok: false, code: ALINK_CODES.subDeviceSign, message: `${at}.sign: does not check with ${pk}/${dn}'s secret` };
    }
    return { ok: true, device: { productKey: pk, deviceName: dn } };
  }

  function subOffline(sub: string): void {
    const gw = subOnline.get(sub);
    if (gw === undefined) return;
    subOnline.delete(sub);
    gatewaySubs.get(gw)?.delete(sub);
    const [pk, dn] = sub.split("\0") as [string, string];
    devices.disconnected(pk, dn, now());
  }

  function gatewayMessage(via: DeviceRef, t: ThingTopic & { kind: "topo.add" | "topo.delete" | "topo.get" | "combine.login" | "combine.logout" }, topic: string, id: string, params: unknown): void {
    const gw = products.get(via.productKey);
    if (gw?.nodeType !== "gateway") return reply(topic, id, ALINK_CODES.notGateway, `product ${via.productKey} is not a gateway product`);
    const sameAccount = (pk: string): boolean => products.get(pk)?.accountId === gw.accountId;
    if (t.kind === "topo.get") return reply(topic, id, ALINK_CODES.ok, "success", opts.topology.subDevices(via));
    if (t.kind === "topo.add" || t.kind === "topo.delete") {
      if (!Array.isArray(params) || params.length === 0 || params.length > 100) return reply(topic, id, ALINK_CODES.badRequest, "params: must list 1-100 sub-devices");
      const subs: DeviceRef[] = [];
      for (const [i, p] of params.entries()) {
        if (p === null || typeof p !== "object") return reply(topic, id, ALINK_CODES.badRequest, `params[${i}]: must be an object`);
        if (t.kind === "topo.add") {
          const s = subDeviceSign(p as Record<string, unknown>, `params[${i}]`);
          if (!s.ok) return reply(topic, id, s.code, s.message);
          if (!sameAccount(s.device.productKey)) return reply(topic, id, ALINK_CODES.deviceNotFound, `params[${i}]: ${s.device.productKey} is not a product of the gateway's account`);
          if (products.get(s.device.productKey)?.nodeType === "gateway") return reply(topic, id, ALINK_CODES.badRequest, `params[${i}]: a gateway is not a sub-device`);
          subs.push(s.device);
        } else {
          const o = p as Record<string, unknown>;
          if (typeof o.productKey !== "string" || typeof o.deviceName !== "string") return reply(topic, id, ALINK_CODES.badRequest, `params[${i}]: productKey and deviceName are required`);
          subs.push({ productKey: o.productKey, deviceName: o.deviceName });
        }
      }
      try {
        if (t.kind === "topo.add") opts.topology.add(via, subs);
        else {
          opts.topology.remove(via, subs);
          for (const s of subs) if (subOnline.get(key(s.productKey, s.deviceName)) === key(via.productKey, via.deviceName)) subOffline(key(s.productKey, s.deviceName));
        }
      } catch (e) {
        return reply(topic, id, ALINK_CODES.badRequest, (e as Error).message);
      }
      return reply(topic, id, ALINK_CODES.ok, "success", subs);
    }
    // combine/login and logout: a sub-device online or offline through this session.
    if (params === null || typeof params !== "object" || Array.isArray(params)) return reply(topic, id, ALINK_CODES.badRequest, "params: must be an object");
    const p = params as Record<string, unknown>;
    if (t.kind === "combine.logout") {
      const sub = key(typeof p.productKey === "string" ? p.productKey : "", typeof p.deviceName === "string" ? p.deviceName : "");
      if (subOnline.get(sub) === key(via.productKey, via.deviceName)) subOffline(sub);
      return reply(topic, id, ALINK_CODES.ok, "success", { productKey: p.productKey, deviceName: p.deviceName });
    }
    const s = subDeviceSign(p, "params");
    if (!s.ok) return reply(topic, id, s.code, s.message);
    const g = opts.topology.gatewayOf(s.device.productKey, s.device.deviceName);
    if (g === undefined || g.productKey !== via.productKey || g.deviceName !== via.deviceName) {
      return reply(topic, id, ALINK_CODES.notSubDevice, `${s.device.productKey}/${s.device.deviceName} is not a sub-device of this gateway: add its topology first`);
    }
    const sub = key(s.device.productKey, s.device.deviceName);
    const gk = key(via.productKey, via.deviceName);
    subOffline(sub);
    subOnline.set(sub, gk);
    let set = gatewaySubs.get(gk);
    if (set === undefined) gatewaySubs.set(gk, (set = new Set()));
    set.add(sub);
    devices.connected(s.device.productKey, s.device.deviceName, now());
    return reply(topic, id, ALINK_CODES.ok, "success", s.device);
  }

  function awaitReply(k: string): Promise<AlinkReply> {
    if (pending.size >= MAX_PENDING_CALLS) throw new ResourceExhaustedError(`${MAX_PENDING_CALLS} calls to devices are waiting for replies; try again`);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(k);
        reject(new DeadlineExceededError(`the device did not reply within ${opts.callTimeoutMs} ms`));
      }, opts.callTimeoutMs);
      pending.set(k, (r) => {
        clearTimeout(timer);
        pending.delete(k);
        resolve(r);
      });
    });
  }

  function requireOnline(pk: string, dn: string): void {
    if (!opts.worksHere(pk, dn)) throw new PreconditionError(`device ${pk}/${dn} is not held by this instance (or is disabled)`, { field: "device_name" });
    if (!online(pk, dn)) throw new PreconditionError(`device ${pk}/${dn} is not online here`, { field: "device_name" });
  }

  return {
    /** Adds a way to reach devices (the embedded broker, an external one). */
    attach(t: ThingTransport): void {
      transports.push(t);
    },
    /** Whether `via` speaks for the device now: it is the device, or its gateway with the device logged in through it. */
    speaksFor(via: DeviceRef, productKey: string, deviceName: string): boolean {
      if (via.productKey === productKey && via.deviceName === deviceName) return true;
      return subOnline.get(key(productKey, deviceName)) === key(via.productKey, via.deviceName);
    },
    /** The session of `via` ended: its sub-devices are offline. */
    disconnected(via: DeviceRef): void {
      const gk = key(via.productKey, via.deviceName);
      for (const sub of [...(gatewaySubs.get(gk) ?? [])]) subOffline(sub);
      gatewaySubs.delete(gk);
    },
    /**
     * A device's publish (the broker authorized it: its own topics, or a
     * sub-device's through its gateway). True when it was a thing topic.
     */
    received(via: DeviceRef, topic: string, payload: Buffer): boolean {
      const t = parseThingTopic(topic);
      if (t === undefined) return false;
      if (t.kind === "property.set.reply" || t.kind === "service.reply") {
        const r = parseReply(payload);
        if (r !== undefined) pending.get(`${key(t.productKey, t.deviceName)}\0${t.kind === "service.reply" ? t.identifier : "property.set"}\0${r.id}`)?.(r);
        return true;
      }
      const parsed = parseRequest(payload);
      if (!parsed.ok) {
        count(t.kind, ALINK_CODES.badRequest);
        reply(topic, parsed.id, ALINK_CODES.badRequest, parsed.message);
        return true;
      }
      const { id, params, method } = parsed.request;
      if (t.kind === "topo.add" || t.kind === "topo.delete" || t.kind === "topo.get" || t.kind === "combine.login" || t.kind === "combine.logout") {
        gatewayMessage(via, t, topic, id, params);
        return true;
      }
      const model = modelOf(t.productKey);
      if (model === undefined) {
        reply(topic, id, ALINK_CODES.deviceNotFound, `product ${t.productKey} is not here`);
        return true;
      }
      if (t.kind === "property.post") {
        if (method !== undefined && method !== "thing.event.property.post") {
          count("property", ALINK_CODES.methodMismatch);
          return (reply(topic, id, ALINK_CODES.methodMismatch, `method: must be thing.event.property.post on this topic`, {}, method), true);
        }
        const r = checkPropertyPost(model, params, now());
        if (!r.ok) {
          count("property", r.fault.code);
          reply(topic, id, r.fault.code, `${r.fault.path}: ${r.fault.message}`, {}, "thing.event.property.post");
          return true;
        }
        enqueue((q) => {
          q.batch.properties.push({ productKey: t.productKey, deviceName: t.deviceName, properties: r.properties });
          q.replies.push(() => {
            count("property", ALINK_CODES.ok);
            reply(topic, id, ALINK_CODES.ok, "success", {}, "thing.event.property.post");
          });
          q.data.push({ kind: "property", productKey: t.productKey, deviceName: t.deviceName, properties: r.properties });
        });
        return true;
      }
      // An event: `params: {value: {...output}, time?}`.
      if (t.kind !== "event.post") return true;
      const { identifier } = t;
      const ev = model.events.find((e) => e.identifier === identifier);
      const expected = `thing.event.${identifier}.post`;
      if (ev === undefined) {
        count("event", ALINK_CODES.unknownIdentifier);
        return (reply(topic, id, ALINK_CODES.unknownIdentifier, `${identifier} is not an event of the thing model`, {}, expected), true);
      }
      if (method !== undefined && method !== expected) {
        count("event", ALINK_CODES.methodMismatch);
        return (reply(topic, id, ALINK_CODES.methodMismatch, `method: must be ${expected} on this topic`, {}, method), true);
      }
      const p = params as { value?: unknown; time?: unknown } | null;
      const fault =
        p === null || typeof p !== "object" || Array.isArray(p)
          ? { code: ALINK_CODES.badRequest, path: "params", message: "must be {value, time}" }
          : p.time !== undefined && (typeof p.time !== "number" || !Number.isInteger(p.time) || p.time < 0)
            ? { code: ALINK_CODES.badDate, path: "params.time", message: "must be UTC milliseconds" }
            : checkFields(ev.outputData, p.value ?? {}, "params.value", false);
      if (fault !== undefined) {
        count("event", fault.code);
        return (reply(topic, id, fault.code, `${fault.path}: ${fault.message}`, {}, expected), true);
      }
      const time = typeof p!.time === "number" ? p!.time : now();
      const output = JSON.stringify(p!.value ?? {});
      enqueue((q) => {
        q.batch.events.push({ productKey: t.productKey, deviceName: t.deviceName, identifier: identifier, eventType: ev.type, output, time });
        q.replies.push(() => {
          count("event", ALINK_CODES.ok);
          reply(topic, id, ALINK_CODES.ok, "success", {}, expected);
        });
        q.data.push({ kind: "event", productKey: t.productKey, deviceName: t.deviceName, identifier: identifier, eventType: ev.type, output, time });
      });
      return true;
    },
    /** SetDeviceProperty: read-write properties of the model, sent to the online device; its reply. */
    async setProperty(productKey: string, deviceName: string, items: unknown): Promise<AlinkReply> {
      const model = modelOf(productKey);
      if (model === undefined) throw new PreconditionError(`product ${productKey} is not here`, { field: "product_key" });
      const fault = checkPropertySet(model, items);
      if (fault !== undefined) throw new InvalidArgumentError(fault.path, `${fault.message} (code ${fault.code})`);
      requireOnline(productKey, deviceName);
      const id = randomBytes(6).toString("hex");
      const waiting = awaitReply(`${key(productKey, deviceName)}\0property.set\0${id}`);
      publish(propertySetTopic(productKey, deviceName), requestPayload(id, "thing.service.property.set", items));
      return waiting;
    },
    /** InvokeThingService: a service of the model with its input, sent to the online device; its reply. */
    async invokeService(productKey: string, deviceName: string, identifier: string, args: unknown): Promise<AlinkReply> {
      const model = modelOf(productKey);
      if (model === undefined) throw new PreconditionError(`product ${productKey} is not here`, { field: "product_key" });
      const service = model.services.find((s) => s.identifier === identifier);
      if (service === undefined) throw new InvalidArgumentError("identifier", `${identifier} is not a service of the thing model (code ${ALINK_CODES.unknownIdentifier})`);
      const fault = checkFields(service.inputData, args, "args", false);
      if (fault !== undefined) throw new InvalidArgumentError(fault.path, `${fault.message} (code ${fault.code})`);
      requireOnline(productKey, deviceName);
      const id = randomBytes(6).toString("hex");
      const waiting = awaitReply(`${key(productKey, deviceName)}\0${identifier}\0${id}`);
      publish(serviceTopic(productKey, deviceName, identifier), requestPayload(id, `thing.service.${identifier}`, args));
      return waiting;
    },
    /** Sub-devices online through gateways now. */
    subDevicesOnline(): number {
      return subOnline.size;
    },
    /** Writes what is queued now (at shutdown). */
    flush,
  };
}

export type ThingRuntime = ReturnType<typeof createThingRuntime>;
