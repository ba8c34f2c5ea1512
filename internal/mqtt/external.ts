import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomBytes, timingSafeEqual, createHash } from "node:crypto";
import type { DevicesRepo, ProductsRepo } from "../store/index.js";
import type { Metrics } from "../metrics/index.js";
import type { Logger } from "../log/index.js";
import { createDeviceAuth } from "./device-auth.js";
import { notifyPayload, notifyTopic } from "./topics.js";
import type { DeviceMessages } from "./broker.js";

export interface ExternalBrokerOptions {
  devices: DevicesRepo;
  products: ProductsRepo;
  /** The bearer token the broker sends on every call (its HTTP authn/authz and webhook configuration). */
  token: string;
  /** The broker's management API (EMQX 5 REST), for R7: publish the notify, then kick the device. */
  api?: { url: string; key: string; secret: string };
  notifyGraceMs: number;
  /** Thing-model messages: `message.publish` webhooks of devices' thing topics go here. */
  messages?: DeviceMessages;
  /** The sign-in timestamp window (a captured CONNECT is not valid for ever). */
  timestampWindowMs?: number;
  requireTimestamp?: boolean;
  metrics: Metrics;
  logger: Logger;
  now?: () => number;
}

const MAX_BODY = 16 * 1024;

export type ExternalBroker = ReturnType<typeof createExternalBroker>;

/**
 * The daemon as the authority of an external broker cluster (EMQX style):
 * - `POST /mqtt/auth` — HTTP authentication: `{clientid, username,
 *   password}` → `{"result":"allow"|"deny","is_superuser":false}`;
 * - `POST /mqtt/authz` — HTTP authorization: `{clientid, username, topic,
 *   action: "publish"|"subscribe"}` → `{"result":"allow"|"deny"}`;
 * - `POST /mqtt/webhook` — events: `client.connected`,
 *   `client.disconnected` (activation, online/offline) and `message.publish`
 *   of `…/thing/bootstrap/notify_reply` (R7's answer). EMQX 4's webhook
 *   names (`client_connected`, `action` instead of `event`) are read too.
 * Every call must carry `Authorization: Bearer <token>`. When a device
 * leaves (R7), the notify is published and the device kicked through the
 * broker's management API (`POST /api/v5/publish`, `GET
 * /api/v5/clients?username=`, `DELETE /api/v5/clients/{clientid}`).
 */
export function createExternalBroker(opts: ExternalBrokerOptions) {
  const { devices, metrics, logger } = opts;
  const now = opts.now ?? Date.now;
  const auth = createDeviceAuth({ devices, products: opts.products, clock: { timestampWindowMs: opts.timestampWindowMs ?? 0, requireTimestamp: opts.requireTimestamp ?? false, now } });
  const tokenHash = createHash("sha256").update(opts.token).digest();
  /** Devices with a session at the broker, by its webhooks. */
  const sessions = new Set<string>();
  const authorized = (req: IncomingMessage): boolean => {
    const h = req.headers.authorization ?? "";
    if (!h.startsWith("Bearer ")) return false;
    return timingSafeEqual(createHash("sha256").update(h.slice(7)).digest(), tokenHash);
  };
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  };
  const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

  const handle = (path: string, body: Record<string, unknown>): { status: number; body: unknown } => {
    if (path === "/mqtt/auth") {
      const r = auth.signIn(str(body.clientid) ?? "", str(body.username), str(body.password));
      metrics.mqttConnects.inc({ result: r.ok ? "accepted" : r.result });
      return { status: 200, body: { result: r.ok ? "allow" : "deny", is_superuser: false } };
    }
    if (path === "/mqtt/authz") {
      const dev = auth.fromUsername(str(body.username) ?? "");
      const action = str(body.action);
      const topic = str(body.topic) ?? "";
      const speaksFor = dev === undefined || opts.messages === undefined ? undefined : (pk: string, dn: string): boolean => opts.messages!.speaksFor(dev, pk, dn);
      const ok = dev !== undefined && (action === "publish" || action === "subscribe") && auth.worksHere(dev.productKey, dev.deviceName) && auth.allowed(dev, topic, action === "publish" ? "pub" : "sub", speaksFor);
      return { status: 200, body: { result: ok ? "allow" : "deny" } };
    }
    if (path === "/mqtt/webhook") {
      const event = (str(body.event) ?? str(body.action) ?? "").replace("_", ".");
      const dev = auth.fromUsername(str(body.username) ?? "");
      if (dev === undefined) return { status: 204, body: undefined };
      if (event === "client.connected") {
        devices.connected(dev.productKey, dev.deviceName, now());
        sessions.add(`${dev.productKey}\0${dev.deviceName}`);
      } else if (event === "client.disconnected") {
        devices.disconnected(dev.productKey, dev.deviceName, now());
        sessions.delete(`${dev.productKey}\0${dev.deviceName}`);
        opts.messages?.disconnected(dev);
      } else if (event === "message.publish" && str(body.topic) === `${notifyTopic(dev.productKey, dev.deviceName)}_reply`) {
        devices.notifyReplied(dev.productKey, dev.deviceName, now());
        metrics.bootstrapNotifies.inc({ result: "replied" });
      } else if (event === "message.publish" && opts.messages !== undefined) {
        // The broker authorized the publish (our authz hook); its payload as the webhook carries it.
        const topic = str(body.topic) ?? "";
        const payload = str(body.payload) ?? "";
        opts.messages.received(dev, topic, Buffer.from(payload, str(body.payload_encoding) === "base64" ? "base64" : "utf8"));
      }
      return { status: 204, body: undefined };
    }
    return { status: 404, body: { error: "not found: /mqtt/auth, /mqtt/authz, /mqtt/webhook" } };
  };

  const server: Server = createServer((req, res) => {
    if (req.method !== "POST") return json(res, 405, { error: "use POST" });
    if (!authorized(req)) {
      req.resume();
      return json(res, 401, { error: "missing or wrong bearer token" });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        json(res, 413, { error: "body too large" });
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (size > MAX_BODY) return;
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        return json(res, 400, { error: "body must be a JSON object" });
      }
      if (body === null || typeof body !== "object" || Array.isArray(body)) return json(res, 400, { error: "body must be a JSON object" });
      try {
        const r = handle((req.url ?? "").split("?")[0]!, body as Record<string, unknown>);
        if (r.body === undefined) {
          res.writeHead(r.status);
          res.end();
        } else json(res, r.status, r.body);
      } catch (e) {
        logger.error({ err: e }, "external broker hook failed");
        json(res, 500, { error: "internal error" });
      }
    });
  });
  server.requestTimeout = 10000;
  server.headersTimeout = 5000;

  const api = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const a = opts.api!;
    const res = await fetch(`${a.url}${path}`, {
      method,
      headers: { authorization: `Basic ${Buffer.from(`${a.key}:${a.secret}`).toString("base64")}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok && res.status !== 404) throw new Error(`${method} ${path}: HTTP ${res.status}`);
    return res.status === 204 || res.status === 404 ? undefined : res.json();
  };

  /** Disconnects every client signed in with this username, through the management API. */
  const kick = async (username: string): Promise<void> => {
    const list = (await api("GET", `/api/v5/clients?username=${encodeURIComponent(username)}`)) as { data?: { clientid?: string }[] } | undefined;
    for (const c of list?.data ?? []) if (typeof c.clientid === "string") await api("DELETE", `/api/v5/clients/${encodeURIComponent(c.clientid)}`);
  };

  return {
    server,
    /** Whether the device has a session at the broker (its webhooks said so). */
    connected(productKey: string, deviceName: string): boolean {
      return sessions.has(`${productKey}\0${deviceName}`);
    },
    /** Publishes to devices through the broker's management API (nothing without one). */
    publish(topic: string, payload: string): void {
      if (opts.api === undefined) return;
      void api("POST", "/api/v5/publish", { topic, payload, qos: 1 }).catch((e: unknown) => logger.warn({ err: (e as Error).message, topic }, "could not publish to a device through the broker's API"));
    },
    /**
     * R7 through the broker's management API: publish the notify on the
     * device's notify topic, then after the grace time disconnect every
     * client signed in as the device. Without an API configured, the broker
     * refuses the device from now on (its next authn/authz says deny) but
     * cannot be told to kick it.
     */
    /** A device disabled or deleted here: its sessions at the broker end now (its authz is denied from now on anyway). */
    cut(productKey: string, deviceName: string): void {
      if (opts.api === undefined) return;
      void kick(`${deviceName}&${productKey}`)
        .then(() => metrics.mqttSessionsCut.inc())
        .catch((e: unknown) => logger.warn({ err: (e as Error).message, product: productKey, device: deviceName }, "could not kick the device through the broker's API"));
    },
    deviceMoved(productKey: string, deviceName: string): void {
      if (opts.api === undefined) return;
      const username = `${deviceName}&${productKey}`;
      void (async () => {
        await api("POST", "/api/v5/publish", { topic: notifyTopic(productKey, deviceName), payload: notifyPayload(randomBytes(8).toString("hex")), qos: 1 });
        devices.notifySent(productKey, deviceName, now());
        metrics.bootstrapNotifies.inc({ result: "sent" });
        await new Promise((r) => setTimeout(r, opts.notifyGraceMs).unref());
        await kick(username);
      })().catch((e: unknown) => logger.warn({ err: (e as Error).message, product: productKey, device: deviceName }, "could not notify or kick the device through the broker's API"));
    },
  };
}
