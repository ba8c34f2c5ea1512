import type { MetricObjectWithValues, MetricValue } from "prom-client";
import type { RouteOp } from "../routes/index.js";
import type { DeviceEdgeLimits } from "../bootstrap/index.js";

/**
 * What an edge worker process is told at fork (JSON in IOTFED_EDGE_WORKER):
 * everything it needs to serve the device edge, and nothing else — no
 * secret but the bootstrap TLS files it reads itself.
 */
export interface EdgeWorkerConfig {
  /** 1-based, for logs. */
  index: number;
  listen: string;
  tls?: { certFile: string; keyFile: string } | undefined;
  limits: DeviceEdgeLimits;
  trustedProxies: string[];
  /** Whether nearest-placed devices are resolved (by the daemon, over IPC). */
  nearest: boolean;
  logLevel: string;
  svc: string;
}

export const EDGE_WORKER_ENV = "IOTFED_EDGE_WORKER";

/** The daemon to a worker, in this order: load, then ops as they happen. */
export type ToWorker =
  /** Start from this snapshot (internal/routing/route-snapshot.ts), with the rest of the table. */
  | { t: "load"; path: string; id: string }
  /** Changes since, in order. */
  | { t: "ops"; ops: RouteOp[] }
  /** The answer to a `place` request. */
  | { t: "placed"; n: number; instance: string }
  | { t: "scrape"; n: number }
  /** Stop accepting, finish what is in flight within the deadline, exit 0. */
  | { t: "stop"; deadlineMs: number };

/** A worker to the daemon. */
export type FromWorker =
  /** Listening on its channel: what was sent before is lost, so the daemon sends from here. */
  | { t: "hello" }
  | { t: "listening"; address: string; devices: number; ms: number }
  /** Could not start (a listen address or TLS file): `key` names the configuration key. */
  | { t: "failed"; key: string; error: string }
  /** A nearest-placed device (R3): which instance answers it. */
  | { t: "place"; n: number; productKey: string; deviceName: string; holder: string; peer: string; headers: string[] }
  | { t: "metrics"; n: number; metrics: MetricObjectWithValues<MetricValue<string>>[] };

/**
 * Requests over an IPC channel, each waiting for the reply with its number;
 * one that gets none within `timeoutMs` settles with `fallback`.
 */
export function createReplies<T>() {
  let seq = 0;
  const waiting = new Map<number, (v: T) => void>();
  return {
    ask(send: (n: number) => void, timeoutMs: number, fallback: T): Promise<T> {
      return new Promise<T>((done) => {
        const n = ++seq;
        const timer = setTimeout(() => {
          waiting.delete(n);
          done(fallback);
        }, timeoutMs);
        waiting.set(n, (v) => {
          clearTimeout(timer);
          waiting.delete(n);
          done(v);
        });
        send(n);
      });
    },
    answer(n: number, v: T): void {
      waiting.get(n)?.(v);
    },
  };
}
