import type { LevelWithSilent } from "pino";
import { createDeviceEdge } from "../bootstrap/index.js";
import { createClientIpResolver } from "../geo/index.js";
import { createEdgeMetrics } from "../metrics/index.js";
import { createLogger } from "../log/index.js";
import { RouteTable } from "../routes/index.js";
import { readRouteSnapshot } from "../routing/index.js";
import { ConfigurationError } from "../domain/index.js";
import { readTls } from "./files.js";
import { listen } from "./listen.js";
import { closeHttp } from "./shutdown.js";
import { createReplies, EDGE_WORKER_ENV, type EdgeWorkerConfig, type FromWorker, type ToWorker } from "./edge-ipc.js";

/** How long a worker waits for the daemon's answer on a nearest-placed device before answering its holder. */
const PLACE_TIMEOUT_MS = 35_000;

/**
 * One edge worker (internal/daemon/edge-pool.ts): loads the snapshot the
 * daemon names, applies the changes that follow it, and serves the device
 * edge on the shared bootstrap port. It holds no store and no secret but
 * the bootstrap TLS key; it ends when the daemon does.
 */
export async function runEdgeWorker(): Promise<void> {
  const config = JSON.parse(process.env[EDGE_WORKER_ENV] ?? "null") as EdgeWorkerConfig | null;
  if (config === null || process.send === undefined) throw new Error(`not started by iotfedd's edge pool (${EDGE_WORKER_ENV} and an IPC channel are needed)`);
  const tell = (m: FromWorker): void => void process.send!(m);
  const log = createLogger(config.logLevel as LevelWithSilent).child({ svc: config.svc, edgeWorker: config.index });
  const routeTable = new RouteTable();
  const metrics = createEdgeMetrics();
  let loadedMs = 0;
  let loaded: ((ok: boolean) => void) | undefined;
  const ready = new Promise<boolean>((r) => (loaded = r));

  const placing = createReplies<string | undefined>();
  const nearest = config.nearest
    ? {
        resolve(productKey: string, deviceName: string, holder: number, peer: string, headers: readonly string[]): Promise<number> {
          const holderId = routeTable.instanceAt(holder);
          return placing
            .ask((n) => tell({ t: "place", n, productKey, deviceName, holder: holderId, peer, headers: [...headers] }), PLACE_TIMEOUT_MS, undefined)
            .then((id) => (id === undefined ? holder : routeTable.instance(id)));
        },
      }
    : undefined;

  let edge: ReturnType<typeof createDeviceEdge> | undefined;
  let stopping = false;
  const stop = async (deadlineMs: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    if (edge !== undefined) {
      await closeHttp(edge.server, deadlineMs);
      edge.close();
    }
    process.exit(0);
  };

  process.on("message", (m: ToWorker) => {
    switch (m.t) {
      case "load": {
        // Synchronous: the changes that follow it on the channel apply after.
        const t0 = performance.now();
        const snap = readRouteSnapshot(m.path, m.id);
        if (typeof snap === "string") {
          log.error({ path: m.path, why: snap }, "edge worker cannot read its start-up snapshot");
          return loaded?.(false);
        }
        routeTable.restore(snap);
        loadedMs = Math.round(performance.now() - t0);
        return loaded?.(true);
      }
      case "ops":
        for (const op of m.ops) routeTable.apply(op);
        return;
      case "placed":
        return placing.answer(m.n, m.instance);
      case "scrape":
        void metrics.registry.getMetricsAsJSON().then((json) => tell({ t: "metrics", n: m.n, metrics: json }));
        return;
      case "stop":
        void stop(m.deadlineMs);
        return;
    }
  });
  tell({ t: "hello" });
  // The daemon is gone (even killed): so is its edge.
  process.on("disconnect", () => void stop(1000));
  // A terminal's Ctrl-C reaches the whole group: the daemon stops its workers itself.
  process.on("SIGINT", () => undefined);
  process.on("SIGTERM", () => void stop(5000));

  if (!(await ready)) process.exit(1);
  try {
    edge = createDeviceEdge({
      routeTable,
      metrics,
      logger: log,
      limits: config.limits,
      clientIp: createClientIpResolver(config.trustedProxies),
      nearest,
      tls: config.tls === undefined ? undefined : readTls(config.tls, "tls.bootstrap"),
    });
    const address = await listen(edge.server, config.listen).catch((e: Error) => {
      throw new ConfigurationError("listen.bootstrap", `cannot listen on ${config.listen}: ${e.message}`, { cause: e });
    });
    tell({ t: "listening", address, devices: routeTable.stats().devices, ms: loadedMs });
  } catch (e) {
    const key = e instanceof ConfigurationError ? e.key : "";
    const message = (e as Error).message;
    tell({ t: "failed", key, error: key !== "" && message.startsWith(`${key}: `) ? message.slice(key.length + 2) : message });
    log.error({ err: (e as Error).message }, "edge worker cannot start");
    setTimeout(() => process.exit(1), 100);
  }
}
