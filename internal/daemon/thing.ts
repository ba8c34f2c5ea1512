import type { Config } from "../config/index.js";
import type { Logger } from "../log/index.js";
import type { Metrics } from "../metrics/index.js";
import type { Repositories, StoreHub } from "../store/index.js";
import { createThingRuntime, type ThingData, type ThingRuntime } from "../thing/index.js";
import { createDeviceAuth } from "../mqtt/index.js";
import { encodeToken } from "../replication/index.js";

/**
 * Devices' runtime data (docs/guides/thing-model.md): the thing runtime
 * that checks and stores what devices post and sends them property sets
 * and service calls, and the timer that keeps history and events within
 * their bounds.
 */
export function startThingRuntime(o: {
  config: Config;
  repos: Repositories;
  hub: StoreHub;
  /** Publishes on core NATS (the replication connection); false when not connected. */
  publish: (subject: string, data: Uint8Array) => boolean;
  /** Whether there is a connection to publish on (nothing is built for subscriptions without one). */
  publishing: () => boolean;
  metrics: Metrics;
  logger: Logger;
}): { runtime: ThingRuntime; close(): void } {
  const { config, repos, metrics, logger: log } = o;
  // The brokers' rule: held here (not arriving) and enabled.
  const { worksHere } = createDeviceAuth({ devices: repos.devices, products: repos.products });
  const runtime = createThingRuntime({
    products: repos.products,
    devices: repos.devices,
    runtime: repos.runtime,
    topology: repos.topology,
    worksHere,
    callTimeoutMs: config.runtimeData.callTimeoutMs,
    timestampWindowMs: config.mqtt.timestampWindowMs,
    onData: dataPublisher(config.runtimeData.subjectPrefix, repos, o.publish, o.publishing),
    metrics,
    logger: log,
  });
  const timer = setInterval(() => {
    try {
      const removed = repos.runtime.trim();
      if (removed > 0) log.debug({ removed }, "runtime data trimmed to its bounds");
    } catch (e) {
      log.warn({ err: (e as Error).message }, "runtime data not trimmed");
    }
  }, config.runtimeData.trimIntervalMs);
  timer.unref();
  return {
    runtime,
    close() {
      clearInterval(timer);
      runtime.flush();
    },
  };
}

/**
 * Each stored post and event on core NATS, once per account that may see
 * it: the product's owner and each grantee of the device (R15), on
 * `<prefix>.<accountId>.<productKey>.<deviceName token>.property` or
 * `….event.<identifier>`. An account's NATS user may read only its own
 * prefix (deploy/nats/iotfed-account-user.sh): a subscription of its own,
 * beside the owner's, that writes nothing.
 */
function dataPublisher(prefix: string, repos: Repositories, publish: (subject: string, data: Uint8Array) => boolean, publishing: () => boolean): (d: ThingData) => void {
  const encoder = new TextEncoder();
  return (d) => {
    if (!publishing()) return;
    const owner = repos.products.get(d.productKey)?.accountId;
    if (owner === undefined) return;
    const accounts = [owner, ...repos.grants.granteesOf(d.productKey, d.deviceName)];
    const tail = d.kind === "property" ? "property" : `event.${d.identifier}`;
    const body =
      d.kind === "property"
        ? { productKey: d.productKey, deviceName: d.deviceName, items: Object.fromEntries(d.properties.map((p) => [p.identifier, { value: JSON.parse(p.value) as unknown, time: p.time }])) }
        : { productKey: d.productKey, deviceName: d.deviceName, identifier: d.identifier, type: d.eventType, value: JSON.parse(d.output) as unknown, time: d.time };
    const data = encoder.encode(JSON.stringify(body));
    for (const account of accounts) publish(`${prefix}.${account}.${d.productKey}.${encodeToken(d.deviceName)}.${tail}`, data);
  };
}
