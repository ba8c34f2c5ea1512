import cluster, { type Worker } from "node:cluster";
import { randomBytes } from "node:crypto";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { MetricObjectWithValues, MetricValue } from "prom-client";
import type { RouteOp, RouteTable } from "../routes/index.js";
import type { NearestResolver } from "../bootstrap/index.js";
import type { Metrics } from "../metrics/index.js";
import type { Logger } from "../log/index.js";
import { ConfigurationError } from "../domain/index.js";
import { writeRouteSnapshot } from "../routing/index.js";
import { createReplies, EDGE_WORKER_ENV, type EdgeWorkerConfig, type FromWorker, type ToWorker } from "./edge-ipc.js";

export interface EdgePoolOptions {
  /** Worker processes (edge.workers). */
  workers: number;
  /** The table the workers follow; the pool follows it from start(). */
  routeTable: RouteTable;
  /** Where start-up snapshots for the workers are written (and removed once read). */
  dataDir: string;
  /** What every worker is told; its index is added. */
  worker: Omit<EdgeWorkerConfig, "index">;
  /** Resolves nearest-placed devices (R3) for the workers. */
  nearest?: Pick<NearestResolver, "resolve"> | undefined;
  metrics: Metrics;
  logger: Logger;
}

export type EdgePool = ReturnType<typeof createEdgePool>;

const SNAPSHOT_PREFIX = "edge-";
const SNAPSHOT_SUFFIX = ".snapshot";
/** A worker that ends sooner than this after it started is restarted with a growing delay. */
const CRASH_LOOP_MS = 10_000;
const RESTART_MIN_MS = 250;
const RESTART_MAX_MS = 30_000;
/** How long a scrape waits for each worker's counts. */
const SCRAPE_TIMEOUT_MS = 2000;

interface Slot {
  index: number;
  worker: Worker | undefined;
  serving: boolean;
  startedAt: number;
  restartDelay: number;
  timer: NodeJS.Timeout | undefined;
  /** The snapshot it was told to load, until it has. */
  snapshot: Snapshot | undefined;
  /**
   * What it is sent before it says hello (a message that reaches a process
   * before it listens is lost): the load, then every change since.
   */
  queue: ToWorker[] | undefined;
}

interface Snapshot {
  path: string;
  id: string;
  readers: number;
}

/**
 * The device edge on every core (edge.workers): that many processes on the
 * one bootstrap port (node:cluster, each accepting on the shared socket),
 * each answering from its own copy of the RouteTable. A worker starts from
 * a snapshot of the daemon's table (not from SQLite), then follows every
 * change the daemon makes, in order, over its IPC channel. Nearest-placed
 * devices (R3) are resolved by the daemon, which holds the geo databases
 * and the peer plane. A worker that ends is started again; /metrics sums
 * the workers' edge counters.
 */
export function createEdgePool(opts: EdgePoolOptions) {
  const { routeTable, metrics, logger: log } = opts;
  const slots: Slot[] = [];
  let stopping = false;
  let pending: RouteOp[] = [];
  let flushScheduled = false;
  const scrapes = createReplies<MetricObjectWithValues<MetricValue<string>>[] | undefined>();
  let allListening: ((address: string) => void) | undefined;
  let anyFailed: ((e: Error) => void) | undefined;

  // Snapshots a crash left behind.
  for (const f of readdirSync(opts.dataDir)) if (f.startsWith(SNAPSHOT_PREFIX) && f.endsWith(SNAPSHOT_SUFFIX)) rmSync(join(opts.dataDir, f), { force: true });

  const send = (w: Worker | undefined, m: ToWorker): void => {
    if (w === undefined || !w.isConnected()) return;
    const queue = slots.find((s) => s.worker === w)?.queue;
    if (queue !== undefined) return void queue.push(m);
    try {
      w.send(m);
    } catch {
      /* the worker is going: its exit restarts it */
    }
  };

  const flush = (): void => {
    flushScheduled = false;
    if (pending.length === 0) return;
    const ops = pending;
    pending = [];
    for (const s of slots) send(s.worker, { t: "ops", ops });
  };
  const follow = (op: RouteOp): void => {
    pending.push(op);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  };

  /** The table now, for workers about to start: every change before it has gone to the running ones. */
  const writeSnapshot = (): Snapshot => {
    flush();
    const id = randomBytes(8).toString("hex");
    const path = join(opts.dataDir, `${SNAPSHOT_PREFIX}${id}${SNAPSHOT_SUFFIX}`);
    const t0 = performance.now();
    const bytes = writeRouteSnapshot(path, id, routeTable.snapshot(true));
    log.debug({ bytes, ms: Math.round(performance.now() - t0) }, "edge workers' start-up snapshot written");
    return { path, id, readers: 0 };
  };
  const doneWith = (s: Slot): void => {
    const snap = s.snapshot;
    s.snapshot = undefined;
    if (snap !== undefined && --snap.readers === 0) rmSync(snap.path, { force: true });
  };

  const updateGauge = (): void => {
    const serving = slots.filter((s) => s.serving).length;
    metrics.edgeWorkers.set({ state: "serving" }, serving);
    metrics.edgeWorkers.set({ state: "starting" }, slots.filter((s) => s.worker !== undefined && !s.serving).length);
  };

  const onMessage = (s: Slot, w: Worker, m: FromWorker): void => {
    switch (m.t) {
      case "hello": {
        const queued = s.queue ?? [];
        s.queue = undefined;
        for (const q of queued) send(w, q);
        return;
      }
      case "listening":
        s.serving = true;
        doneWith(s);
        updateGauge();
        log.info({ worker: s.index, pid: w.process.pid, address: m.address, devices: m.devices, ms: m.ms }, "edge worker serving");
        if (slots.every((x) => x.serving)) allListening?.(m.address);
        return;
      case "failed":
        anyFailed?.(new ConfigurationError(m.key, m.error));
        return;
      case "place": {
        const answer = (instance: string): void => send(w, { t: "placed", n: m.n, instance });
        const near = opts.nearest;
        if (near === undefined) return answer(m.holder);
        const holder = routeTable.instance(m.holder);
        try {
          const r = near.resolve(m.productKey, m.deviceName, holder, m.peer, m.headers);
          if (typeof r === "number") answer(routeTable.instanceAt(r));
          else
            r.then(
              (i) => answer(routeTable.instanceAt(i)),
              () => answer(m.holder),
            );
        } catch (e) {
          log.error({ err: e }, "nearest placement for an edge worker failed");
          answer(m.holder);
        }
        return;
      }
      case "metrics":
        scrapes.answer(m.n, m.metrics);
        return;
    }
  };

  const fork = (s: Slot, snap: Snapshot): void => {
    const config: EdgeWorkerConfig = { ...opts.worker, index: s.index };
    const w = cluster.fork({ [EDGE_WORKER_ENV]: JSON.stringify(config) });
    s.worker = w;
    s.serving = false;
    s.startedAt = Date.now();
    s.snapshot = snap;
    s.queue = [];
    snap.readers++;
    // The snapshot first; every change after it follows on the same channel, in order.
    send(w, { t: "load", path: snap.path, id: snap.id });
    w.on("message", (m: FromWorker) => onMessage(s, w, m));
    w.on("exit", (code, signal) => {
      if (s.worker !== w) return;
      s.worker = undefined;
      s.serving = false;
      doneWith(s);
      updateGauge();
      if (stopping) return;
      const lived = Date.now() - s.startedAt;
      s.restartDelay = lived < CRASH_LOOP_MS ? Math.min(RESTART_MAX_MS, Math.max(RESTART_MIN_MS, s.restartDelay * 2)) : RESTART_MIN_MS;
      metrics.edgeWorkerRestarts.inc();
      log.error({ worker: s.index, pid: w.process.pid, code, signal, restartInMs: s.restartDelay }, "edge worker ended; starting it again");
      s.timer = setTimeout(() => {
        s.timer = undefined;
        if (!stopping) fork(s, writeSnapshot());
      }, s.restartDelay);
    });
    updateGauge();
  };

  return {
    /** Forks the workers; resolves with the bound address once every one serves, rejects when one cannot start. */
    start(): Promise<string> {
      cluster.schedulingPolicy = cluster.SCHED_NONE; // each worker accepts on the shared socket: the daemon does not pass connections
      cluster.setupPrimary({ exec: fileURLToPath(new URL("./edge-worker-main.js", import.meta.url)), args: [], silent: false });
      routeTable.follow(follow);
      const snap = writeSnapshot();
      const started = new Promise<string>((ok, fail) => {
        allListening = (a) => {
          allListening = undefined;
          anyFailed = undefined;
          ok(a);
        };
        anyFailed = (e) => {
          allListening = undefined;
          anyFailed = undefined;
          fail(e);
        };
      });
      for (let i = 0; i < opts.workers; i++) {
        const s: Slot = { index: i + 1, worker: undefined, serving: false, startedAt: 0, restartDelay: 0, timer: undefined, snapshot: undefined, queue: undefined };
        slots.push(s);
        fork(s, snap);
      }
      return started;
    },

    /** Workers serving now. */
    serving: (): number => slots.filter((s) => s.serving).length,

    /** Each serving worker's edge metrics (a worker that does not answer in time is left out). */
    async metrics(): Promise<MetricObjectWithValues<MetricValue<string>>[][]> {
      const asks = slots.filter((s) => s.serving).map((s) => scrapes.ask((n) => send(s.worker, { t: "scrape", n }), SCRAPE_TIMEOUT_MS, undefined));
      return (await Promise.all(asks)).filter((m) => m !== undefined);
    },

    /** Ends every worker at once (a start-up that failed). */
    kill(): void {
      stopping = true;
      routeTable.follow(undefined);
      for (const s of slots) {
        if (s.timer !== undefined) clearTimeout(s.timer);
        s.worker?.process.kill("SIGKILL");
        doneWith(s);
      }
    },

    /** Stops every worker: each drains its connections within the deadline; one that does not is killed. */
    async stop(deadlineMs: number): Promise<void> {
      stopping = true;
      routeTable.follow(undefined);
      const exits = slots.map((s) => {
        if (s.timer !== undefined) clearTimeout(s.timer);
        const w = s.worker;
        if (w === undefined) return Promise.resolve();
        return new Promise<void>((done) => {
          const kill = setTimeout(() => w.process.kill("SIGKILL"), deadlineMs + 1000);
          w.once("exit", () => {
            clearTimeout(kill);
            done();
          });
          send(w, { t: "stop", deadlineMs });
        });
      });
      await Promise.all(exits);
      for (const s of slots) doneWith(s);
    },
  };
}
