import type { RouteTable } from "../routes/index.js";
import type { EdgeMetrics } from "../metrics/index.js";
import type { Logger } from "../log/index.js";
import type { ClientIpResolver } from "../geo/index.js";
import { createBootstrapServer } from "./server.js";
import { createEdgeLimiter } from "./limits.js";
import type { NearestResolver } from "./nearest.js";
import type { EdgeServer } from "./http1.js";

/** The device edge's limits, from the `limits.bootstrap*` keys. */
export interface DeviceEdgeLimits {
  maxBodyBytes: number;
  requestTimeoutMs: number;
  keepAliveMs: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  ratePerIp: number;
  burst: number;
}

export interface DeviceEdgeOptions {
  routeTable: RouteTable;
  metrics: Pick<EdgeMetrics, "bootstrapRequests" | "bootstrapDuration" | "bootstrapShed">;
  logger: Logger;
  limits: DeviceEdgeLimits;
  clientIp: ClientIpResolver;
  /** The nearest strategy (R3): resolved here, or asked of the daemon by an edge worker. */
  nearest?: Pick<NearestResolver, "resolve"> | undefined;
  tls?: { cert: Buffer; key: Buffer } | undefined;
}

/**
 * The device edge as one process serves it — the bootstrap server with its
 * limiter — whether that process is the daemon, one of its edge workers or
 * an edge-role process.
 */
export function createDeviceEdge(o: DeviceEdgeOptions): { server: EdgeServer; close(): void } {
  const limiter = createEdgeLimiter(
    {
      maxConnections: o.limits.maxConnections,
      maxConnectionsPerIp: o.limits.maxConnectionsPerIp,
      ratePerIp: o.limits.ratePerIp,
      burst: o.limits.burst,
      maxTracked: 200_000,
    },
    (reason) => o.metrics.bootstrapShed.labels(reason).inc(),
  );
  const server = createBootstrapServer({
    routeTable: o.routeTable,
    metrics: o.metrics,
    logger: o.logger,
    limiter,
    clientIp: o.clientIp,
    maxBodyBytes: o.limits.maxBodyBytes,
    requestTimeoutMs: o.limits.requestTimeoutMs,
    keepAliveMs: o.limits.keepAliveMs,
    ...(o.nearest === undefined ? {} : { nearest: o.nearest }),
    ...(o.tls === undefined ? {} : { tls: o.tls }),
  });
  return { server, close: () => limiter.close() };
}
