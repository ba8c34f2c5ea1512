import { availableParallelism } from "node:os";
import type { Config } from "../config/index.js";
import { createDeviceEdge, type DeviceEdgeLimits, type NearestResolver } from "../bootstrap/index.js";
import type { ClientIpResolver } from "../geo/index.js";
import type { RouteTable } from "../routes/index.js";
import type { Metrics } from "../metrics/index.js";
import type { Logger } from "../log/index.js";
import { ConfigurationError } from "../domain/index.js";
import { readTls } from "./files.js";
import { listen } from "./listen.js";
import { closeHttp } from "./shutdown.js";
import { createEdgePool } from "./edge-pool.js";

export interface EdgeOptions {
  config: Config;
  embedded: boolean;
  routeTable: RouteTable;
  /** Undefined: nearest-placed devices are answered by their holder. */
  nearest: Pick<NearestResolver, "resolve"> | undefined;
  clientIp: ClientIpResolver;
  dataDir: string;
  metrics: Metrics;
  logger: Logger;
  /** The `svc` of the workers' log lines. */
  svc?: string;
}

export interface Edge {
  /** Processes answering (0: this one). */
  readonly workers: number;
  /** Undefined while it answers; else why not (every worker down). */
  notServing(): string | undefined;
  /** Starts answering; resolves with the bound address. */
  listen(): Promise<string>;
  /** Stops accepting and drains within the deadline. */
  stop(deadlineMs: number): Promise<void>;
  /** Ends at once (a start-up that failed). */
  kill(): void;
}

/** edge.workers as a number: auto is one per core, except in the embedded default. */
export function edgeWorkerCount(config: Config, embedded: boolean): number {
  const w = config.edge.workers;
  return w === "auto" ? (embedded ? 0 : availableParallelism()) : w;
}

/**
 * The device edge of this process: served here (edge.workers 0), or by a
 * pool of worker processes on the same port, each with its own copy of the
 * route table (docs/guides/device-edge.md "On every core"). The total
 * connection limit is shared out among the workers; the per-address limits
 * hold in each.
 */
export function startEdge(o: EdgeOptions): Edge {
  const { config } = o;
  const workers = edgeWorkerCount(config, o.embedded);
  const limits = (share: number): DeviceEdgeLimits => ({
    maxBodyBytes: config.limits.bootstrapMaxBodyBytes,
    requestTimeoutMs: config.limits.bootstrapRequestTimeoutMs,
    keepAliveMs: config.limits.bootstrapKeepAliveMs,
    maxConnections: Math.max(1, Math.ceil(config.limits.bootstrapMaxConnections / share)),
    maxConnectionsPerIp: config.limits.bootstrapMaxConnectionsPerIp,
    ratePerIp: config.limits.bootstrapRatePerIp,
    burst: config.limits.bootstrapBurstPerIp,
  });

  if (workers === 0) {
    const edge = createDeviceEdge({
      routeTable: o.routeTable,
      metrics: o.metrics,
      logger: o.logger,
      limits: limits(1),
      clientIp: o.clientIp,
      nearest: o.nearest,
      tls: config.tls.bootstrap === undefined ? undefined : readTls(config.tls.bootstrap, "tls.bootstrap"),
    });
    return {
      workers,
      notServing: () => undefined,
      listen: () =>
        listen(edge.server, config.listen.bootstrap).catch((e: Error) => {
          throw new ConfigurationError("listen.bootstrap", `cannot listen on ${config.listen.bootstrap}: ${e.message}`, { cause: e });
        }),
      stop: async (deadlineMs) => {
        await closeHttp(edge.server, deadlineMs);
        edge.close();
      },
      kill: () => {
        edge.server.close();
        edge.server.closeAllConnections();
        edge.close();
      },
    };
  }

  // Read here first, so that a bad file fails the start-up with its key.
  if (config.tls.bootstrap !== undefined) readTls(config.tls.bootstrap, "tls.bootstrap");
  const pool = createEdgePool({
    workers,
    routeTable: o.routeTable,
    dataDir: o.dataDir,
    worker: {
      listen: config.listen.bootstrap,
      tls: config.tls.bootstrap,
      limits: limits(workers),
      trustedProxies: config.placement.trustedProxies,
      nearest: o.nearest !== undefined,
      logLevel: config.log.level,
      svc: o.svc ?? "iotfedd",
    },
    nearest: o.nearest,
    metrics: o.metrics,
    logger: o.logger,
  });
  o.metrics.setEdgeWorkers(() => pool.metrics());
  return {
    workers,
    notServing: () => (pool.serving() === 0 ? "no edge worker is serving bootstrap" : undefined),
    listen: () => pool.start(),
    stop: (deadlineMs) => pool.stop(deadlineMs),
    kill: () => pool.kill(),
  };
}
