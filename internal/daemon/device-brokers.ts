import type { Server } from "node:http";
import type { Config } from "../config/index.js";
import type { Logger } from "../log/index.js";
import type { Metrics } from "../metrics/index.js";
import type { DevicesRepo, ProductsRepo, StoreHub } from "../store/index.js";
import { ConfigurationError } from "../domain/index.js";
import { createEmbeddedBroker, createExternalBroker, type EmbeddedBroker } from "../mqtt/index.js";
import type { ThingRuntime } from "../thing/index.js";
import { listen } from "./listen.js";
import { readSecretFile, readTls } from "./files.js";
import { closeHttp, withDeadline } from "./shutdown.js";

export interface DeviceBrokers {
  /** The embedded broker's address; "" when it is off. */
  mqtt: string;
  /** The external broker's HTTP hooks' address; "" when off. */
  mqttHooks: string;
  onlineCount(): number | undefined;
  close(deadlineMs: number): Promise<void>;
}

/**
 * Where devices sign in: the embedded MQTT broker and/or the hooks an
 * external broker (EMQX style) calls. Each follows `device.moved` (R7:
 * notify, then cut the session), and cuts the session of a device disabled
 * or deleted here at once. The embedded default runs its broker
 * unless the port is taken (a host's own broker on 1883): then it says so
 * and goes on.
 */
export async function startDeviceBrokers(o: {
  config: Config;
  embedded: boolean;
  devices: DevicesRepo;
  products: ProductsRepo;
  hub: StoreHub;
  /** Devices' thing-model messages; it reaches devices through each broker started here. */
  thing: ThingRuntime;
  metrics: Metrics;
  logger: Logger;
}): Promise<DeviceBrokers> {
  const { config, embedded, devices, products, hub, thing, metrics, logger: log } = o;
  let broker: EmbeddedBroker | undefined;
  let mqtt = "";
  if (config.mqtt.broker.enabled || embedded) {
    const b = config.mqtt.broker;
    const eb = await createEmbeddedBroker({
      devices,
      products,
      ...(b.tls === undefined ? {} : { tls: readTls(b.tls, "mqtt.broker.tls") }),
      notifyGraceMs: b.notifyGraceMs,
      timestampWindowMs: config.mqtt.timestampWindowMs,
      requireTimestamp: config.mqtt.requireTimestamp,
      messages: thing,
      metrics,
      logger: log,
    });
    try {
      mqtt = await listen(eb.server, b.listen);
      broker = eb;
      thing.attach(eb);
      hub.on("device.moved", (d) => eb.deviceMoved(d.productKey, d.deviceName));
      hub.on("device.changed", (d) => {
        if (d.disabled) eb.cut(d.productKey, d.deviceName);
      });
      hub.on("device.deleted", (d) => eb.cut(d.productKey, d.deviceName));
    } catch (e) {
      await eb.close();
      if (!embedded) throw new ConfigurationError("mqtt.broker.listen", `cannot listen on ${b.listen}: ${(e as Error).message}`, { cause: e });
      log.warn({ listen: b.listen, err: (e as Error).message }, "embedded default: the MQTT broker did not start (its port is in use); devices cannot sign in here");
    }
  }
  let hooksServer: Server | undefined;
  let mqttHooks = "";
  if (config.mqtt.external.enabled) {
    const x = config.mqtt.external;
    const credentials = x.api === undefined ? undefined : readSecretFile(x.api.credentialsFile, "mqtt.external.api.credentialsFile");
    if (credentials !== undefined && !credentials.includes(":")) throw new ConfigurationError("mqtt.external.api.credentialsFile", "must hold <api key>:<api secret>");
    const colon = credentials?.indexOf(":") ?? -1;
    const ext = createExternalBroker({
      devices,
      products,
      token: readSecretFile(x.tokenFile!, "mqtt.external.tokenFile"),
      ...(x.api === undefined || credentials === undefined ? {} : { api: { url: x.api.url, key: credentials.slice(0, colon), secret: credentials.slice(colon + 1) } }),
      notifyGraceMs: x.notifyGraceMs,
      timestampWindowMs: config.mqtt.timestampWindowMs,
      requireTimestamp: config.mqtt.requireTimestamp,
      messages: thing,
      metrics,
      logger: log,
    });
    thing.attach(ext);
    hooksServer = ext.server;
    mqttHooks = await listen(ext.server, x.listen).catch((e: Error) => {
      throw new ConfigurationError("mqtt.external.listen", `cannot listen on ${x.listen}: ${e.message}`, { cause: e });
    });
    hub.on("device.moved", (d) => ext.deviceMoved(d.productKey, d.deviceName));
    hub.on("device.changed", (d) => {
      if (d.disabled) ext.cut(d.productKey, d.deviceName);
    });
    hub.on("device.deleted", (d) => ext.cut(d.productKey, d.deviceName));
  }
  return {
    mqtt,
    mqttHooks,
    onlineCount: () => broker?.onlineCount(),
    async close(deadlineMs) {
      await Promise.all([
        ...(broker === undefined ? [] : [withDeadline(broker.close(), deadlineMs)]),
        ...(hooksServer === undefined ? [] : [closeHttp(hooksServer, deadlineMs)]),
      ]);
    },
  };
}
