import { createServer as createTcpServer, type Server } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { randomBytes } from "node:crypto";
import { Aedes, type AuthenticateError, type Client } from "aedes";
import { createDeviceAuth, type SignedInDevice } from "./device-auth.js";
import { notifyPayload, notifyTopic } from "./topics.js";
import type { DevicesRepo, ProductsRepo } from "../store/index.js";
import type { Metrics } from "../metrics/index.js";
import type { Logger } from "../log/index.js";

export interface BrokerOptions {
  devices: DevicesRepo;
  products: ProductsRepo;
  /** TLS for the listener (devices' securemode=2); plaintext TCP when absent. */
  tls?: { cert: Buffer; key: Buffer };
  /** How long a moved device (cut-over) has to read its notify (and reply) before it is disconnected (R7). */
  notifyGraceMs: number;
  /** The sign-in timestamp window (a captured CONNECT is not valid for ever). */
  timestampWindowMs?: number;
  requireTimestamp?: boolean;
  /** Thing-model messages (docs/guides/thing-model.md): what devices publish, and gateways' sub-devices. */
  messages?: DeviceMessages;
  metrics: Metrics;
  logger: Logger;
  now?: () => number;
}

/** Where devices' publishes go beyond routing (the thing runtime), and who speaks for whom. */
export interface DeviceMessages {
  /** A device's publish, authorized; `via` is the connection's device. */
  received(via: SignedInDevice, topic: string, payload: Buffer): boolean;
  /** Whether `via` (a gateway) speaks for the device now: it logged in through its session. */
  speaksFor(via: SignedInDevice, productKey: string, deviceName: string): boolean;
  /** The session of `via` ended. */
  disconnected(via: SignedInDevice): void;
}

export type EmbeddedBroker = Awaited<ReturnType<typeof createEmbeddedBroker>>;

/**
 * The instance's MQTT endpoint, run by the daemon (aedes). A device signs in
 * the platform's way (client id `<id>|securemode=…,signmethod=…|`, username
 * `<deviceName>&<productKey>`, password the HMAC of the sorted parameters
 * with its DeviceSecret) and is accepted only here, where it is held now:
 * unknown, disabled, leaving and distributed-away devices are refused. A
 * device may publish and subscribe under its own `/sys/{pk}/{dn}/` and to
 * its product's topic classes (`/{pk}/{dn}/user/…`, by operation). Its first
 * connection activates it; disconnecting makes it offline (R8: these
 * runtime data stay here). When it leaves (R7), it is sent
 * `thing.bootstrap.notify` and disconnected.
 */
export async function createEmbeddedBroker(opts: BrokerOptions) {
  const { devices, products, metrics, logger } = opts;
  const now = opts.now ?? Date.now;
  const aedes = await Aedes.createBroker({ drainTimeout: 30000, connectTimeout: 10000, maxTopicLevels: 16, queueLimit: 42 });
  const auth = createDeviceAuth({ devices, products, clock: { timestampWindowMs: opts.timestampWindowMs ?? 0, requireTimestamp: opts.requireTimestamp ?? false, now } });
  const byClient = new WeakMap<Client, SignedInDevice>();
  /** The client currently connected for each device (a newer sign-in replaces an older one). */
  const online = new Map<string, Client>();
  const key = (pk: string, dn: string): string => `${pk}\0${dn}`;
  const connects = (result: string): void => metrics.mqttConnects.inc({ result });

  const refuse = (done: (e: AuthenticateError | null, ok: boolean | null) => void, result: string, returnCode: 4 | 5, why: string): void => {
    connects(result);
    logger.debug({ result, why }, "mqtt sign-in refused");
    done(Object.assign(new Error(why), { returnCode }), null);
  };

  aedes.authenticate = (client, username, password, done) => {
    const r = auth.signIn(client.id, username, password);
    if (!r.ok) return refuse(done, r.result, r.returnCode, r.why);
    byClient.set(client, r.device);
    connects("accepted");
    done(null, true);
  };

  /** Each publish and subscription: the device still works here (held, enabled) and the topic is its own. */
  const allowed = (client: Client | null, topic: string, op: "pub" | "sub"): boolean => {
    const dev = client === null ? undefined : byClient.get(client);
    const speaksFor = opts.messages === undefined || dev === undefined ? undefined : (pk: string, dn: string): boolean => opts.messages!.speaksFor(dev, pk, dn);
    if (dev === undefined || !auth.allowed(dev, topic, op, speaksFor)) return false;
    // A device just moved (R7) may still answer its bootstrap notify during the grace time.
    return auth.worksHere(dev.productKey, dev.deviceName) || (op === "pub" && topic === `${notifyTopic(dev.productKey, dev.deviceName)}_reply`);
  };

  aedes.authorizePublish = (client, packet, done) => {
    if (!allowed(client, packet.topic, "pub")) return done(new Error(`publishing to ${packet.topic} is not allowed`));
    const dev = client === null ? undefined : byClient.get(client);
    if (dev !== undefined && packet.topic === `${notifyTopic(dev.productKey, dev.deviceName)}_reply`) {
      devices.notifyReplied(dev.productKey, dev.deviceName, now());
      metrics.bootstrapNotifies.inc({ result: "replied" });
    }
    done(null);
  };
  aedes.authorizeSubscribe = (client, sub, done) => done(null, allowed(client, sub.topic, "sub") ? sub : null);

  aedes.on("clientReady", (client) => {
    const dev = byClient.get(client);
    if (dev === undefined) return;
    const k = key(dev.productKey, dev.deviceName);
    // Disabled, deleted or moved between its sign-in and now (aedes sends the
    // CONNACK before this event): cut here, as cut() would have.
    if (!auth.worksHere(dev.productKey, dev.deviceName)) {
      metrics.mqttSessionsCut.inc();
      client.close();
      return;
    }
    online.get(k)?.close();
    online.set(k, client);
    devices.connected(dev.productKey, dev.deviceName, now());
  });
  aedes.on("clientDisconnect", (client) => {
    const dev = byClient.get(client);
    if (dev === undefined) return;
    const k = key(dev.productKey, dev.deviceName);
    if (online.get(k) !== client) return; // replaced by a newer connection
    online.delete(k);
    opts.messages?.disconnected(dev);
    devices.disconnected(dev.productKey, dev.deviceName, now());
  });
  if (opts.messages !== undefined) {
    const messages = opts.messages;
    aedes.on("publish", (packet, client) => {
      const dev = client === null ? undefined : byClient.get(client);
      if (dev === undefined || packet.topic.startsWith("$SYS")) return;
      try {
        messages.received(dev, packet.topic, packet.payload as Buffer);
      } catch (e) {
        logger.error({ err: e, topic: packet.topic }, "device message not handled");
      }
    });
  }
  aedes.on("clientError", (_client, err) => logger.debug({ err: err.message }, "mqtt client error"));
  aedes.on("connectionError", (_client, err) => logger.debug({ err: err.message }, "mqtt connection error"));

  // No Nagle: a PUBACK and the reply that follows it are two small writes, and
  // the second must not wait for the device's delayed ACK (~40 ms).
  const server: Server = opts.tls === undefined ? createTcpServer({ noDelay: true }, aedes.handle) : createTlsServer({ cert: opts.tls.cert, key: opts.tls.key, noDelay: true }, aedes.handle);

  return {
    server,
    /** Devices connected now. */
    onlineCount(): number {
      return online.size;
    },
    /** Whether the device has a session here now. */
    connected(productKey: string, deviceName: string): boolean {
      return online.has(key(productKey, deviceName));
    },
    /** Publishes to devices (a property set, a service call, a reply). */
    publish(topic: string, payload: string): void {
      aedes.publish({ cmd: "publish", topic, payload: Buffer.from(payload), qos: 1, retain: false, dup: false }, (err) => {
        if (err !== undefined && err !== null) logger.warn({ err: err.message, topic }, "publish to a device failed");
      });
    },
    /**
     * R7: a device its target accepted (cut-over) is sent `thing.bootstrap.notify`
     * (cmd 0: bootstrap again) on its notify topic, then disconnected after
     * the grace time. One that is not connected is only marked offline.
     */
    deviceMoved(productKey: string, deviceName: string): void {
      const client = online.get(key(productKey, deviceName));
      if (client === undefined) return;
      const payload = notifyPayload(randomBytes(8).toString("hex"));
      aedes.publish({ cmd: "publish", topic: notifyTopic(productKey, deviceName), payload: Buffer.from(payload), qos: 1, retain: false, dup: false }, (err) => {
        if (err !== undefined && err !== null) logger.warn({ err: err.message }, "bootstrap notify not published");
      });
      devices.notifySent(productKey, deviceName, now());
      metrics.bootstrapNotifies.inc({ result: "sent" });
      const t = setTimeout(() => client.close(), opts.notifyGraceMs);
      t.unref();
    },
    /** A device disabled or deleted here: its session ends now (no notify: it is not to sign in anywhere). */
    cut(productKey: string, deviceName: string): void {
      const client = online.get(key(productKey, deviceName));
      if (client === undefined) return;
      metrics.mqttSessionsCut.inc();
      client.close();
    },
    close(): Promise<void> {
      return new Promise((resolve) => {
        server.close(() => undefined);
        for (const c of online.values()) c.close();
        aedes.close(() => resolve());
      });
    },
  };
}
