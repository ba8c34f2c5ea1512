import type { Config } from "../config/index.js";
import type { Logger } from "../log/index.js";
import type { Metrics } from "../metrics/index.js";
import type { Repositories, StoreHub } from "../store/index.js";
import { createThingRuntime, type ThingData, type ThingRuntime } from "../thing/index.js";
import { createDeviceAuth } from "../mqtt/index.js";

/**
 * Devices' runtime data (docs/guides/thing-model.md): the thing runtime
 * that checks and stores what devices post and sends them property sets
 * and service calls, and the timer that keeps history and events within
 * their bounds.
 */
export function startThingRuntime(o: { config: Config; repos: Repositories; hub: StoreHub; onData?: (d: ThingData) => void; metrics: Metrics; logger: Logger }): { runtime: ThingRuntime; close(): void } {
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
    ...(o.onData === undefined ? {} : { onData: o.onData }),
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
