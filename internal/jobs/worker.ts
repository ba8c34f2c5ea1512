import * as grpc from "@grpc/grpc-js";

import type { JobsRepo, ProductsRepo } from "../store/index.js";
import { bundleToWire, certToWire, type PeerClient } from "../peer/index.js";
import { statusName } from "../rpc/index.js";
import type { Metrics } from "../metrics/index.js";
import type { Logger } from "../log/index.js";

export interface JobWorkerOptions {
  jobs: JobsRepo;
  products: ProductsRepo;
  peers: ReadonlyMap<string, PeerClient>;
  regionId: string;
  batchSize: number;
  retryWindowMs: number;
  /** Jobs handed off at the same time. */
  concurrency?: number;
  /** How often active jobs and stale product copies are looked for. */
  scanIntervalMs?: number;
  metrics: Metrics;
  logger: Logger;
}

/** Peer errors after which the outcome is unknown: the same request is sent again later. */
const RETRYABLE = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.INTERNAL,
  grpc.status.UNKNOWN,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.CANCELLED,
  grpc.status.ABORTED,
]);

const codeName = statusName;

/**
 * The outbox worker at the source (ARCHITECTURE.md "The handoff", steps 2
 * and 4): it prepares new jobs, sends their pending devices to the target in
 * batches, records each answer in one transaction, retries with backoff
 * while the target is unreachable, and fails the job past the retry window.
 * It also brings read-only product copies up to the owner's version.
 */
export function createJobWorker(opts: JobWorkerOptions) {
  const { jobs, products, peers, metrics, logger } = opts;
  const concurrency = opts.concurrency ?? 4;
  const inFlight = new Map<string, Promise<void>>();
  let syncing: Promise<void> | undefined;
  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  const sleepers = new Set<() => void>();

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(t);
        sleepers.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      sleepers.add(wake);
    });

  async function runJob(jobId: string): Promise<void> {
    let job = jobs.prepare(jobId);
    const client = peers.get(job.targetInstance);
    if (client === undefined) {
      jobs.fail(jobId, `target ${job.targetInstance} is not a configured peer`);
      return;
    }
    let backoff = 200;
    let productSent = false;
    while (!stopping && job.status === "running") {
      const batch = jobs.pendingBatch(jobId, job.productKey, opts.batchSize);
      if (batch.length === 0 && productSent) {
        job = jobs.complete(jobId);
        break;
      }
      const bundle = products.bundle(job.productKey);
      const end = metrics.handoffDuration.startTimer({ direction: "out" });
      try {
        const res = await client.handoff({
          jobId,
          sourceRegionId: opts.regionId,
          product: bundleToWire(bundle),
          devices: batch.map(certToWire),
          targetAccountId: job.accountId,
        });
        end();
        productSent = true;
        backoff = 200;
        products.recordCopy(job.productKey, job.targetInstance, Number(res.productVersion));
        const outcomes = res.outcomes.map((o) => ({ ...o, generation: Number(o.generation) }));
        for (const o of outcomes) metrics.handoffDevices.inc({ direction: "out", result: o.accepted ? "accepted" : "refused" });
        job = jobs.recordOutcomes(job, outcomes);
        if (batch.length === 0) job = jobs.complete(jobId);
      } catch (e) {
        const code = (e as grpc.ServiceError).code;
        if (typeof code !== "number") throw e;
        metrics.peerCallErrors.inc({ peer: job.targetInstance, code: codeName(code) });
        const message = (e as grpc.ServiceError).details || codeName(code);
        if (RETRYABLE.has(code)) {
          const since = job.unreachableSince || Date.now();
          const why = `target ${job.targetInstance} unreachable since ${new Date(since).toISOString()}: ${codeName(code)}`;
          if (Date.now() - since > opts.retryWindowMs) {
            job = jobs.fail(jobId, `${why}; past the ${opts.retryWindowMs} ms retry window: retry the job`);
            logger.warn({ job: jobId, target: job.targetInstance }, "job failed: target unreachable past the retry window");
            break;
          }
          jobs.unreachable(jobId, since, why);
          job = jobs.require(jobId);
          await sleep(backoff);
          backoff = Math.min(backoff * 2, 5000);
          continue;
        }
        // The target refused the whole call and applied nothing.
        logger.warn({ job: jobId, target: job.targetInstance, code: codeName(code) }, "target refused handoff");
        if (job.jobType === "product") {
          job = jobs.fail(jobId, `${codeName(code)}: ${message}`);
          break;
        }
        const all = jobs.pendingBatch(jobId, job.productKey, Number.MAX_SAFE_INTEGER).map((d) => d.deviceName);
        job = jobs.refuseRest(job, codeName(code), message, all);
        productSent = true;
      }
    }
    if (job.status === "completed") {
      logger.info({ job: jobId, target: job.targetInstance, succeeded: job.succeeded, failed: job.failed }, "job completed");
    }
  }

  async function syncCopies(): Promise<void> {
    for (const c of products.staleCopies()) {
      if (stopping) return;
      const client = peers.get(c.instanceId);
      if (client === undefined) continue;
      try {
        const res = await client.syncProduct({ product: bundleToWire(products.bundle(c.productKey)) });
        products.recordCopy(c.productKey, c.instanceId, Number(res.version));
      } catch (e) {
        const code = (e as grpc.ServiceError).code;
        if (typeof code !== "number") throw e;
        metrics.peerCallErrors.inc({ peer: c.instanceId, code: codeName(code) });
      }
    }
  }

  function scan(): void {
    if (stopping) return;
    for (const jobId of jobs.active()) {
      if (inFlight.size >= concurrency) break;
      if (inFlight.has(jobId)) continue;
      const p = runJob(jobId)
        .catch((e: unknown) => logger.error({ err: e, job: jobId }, "job worker failed"))
        .finally(() => {
          inFlight.delete(jobId);
          if (!stopping) setImmediate(scan);
        });
      inFlight.set(jobId, p);
    }
    if (syncing === undefined) {
      syncing = syncCopies()
        .catch((e: unknown) => logger.error({ err: e }, "product sync failed"))
        .finally(() => (syncing = undefined));
    }
  }

  return {
    start(): void {
      timer = setInterval(scan, opts.scanIntervalMs ?? 1000);
      setImmediate(scan);
    },
    /** Look for work now (a job was created or retried, a product changed). */
    kick(): void {
      setImmediate(scan);
    },
    /** Stops taking work and waits for calls in flight (each bounded by the peer call deadline). */
    async stop(): Promise<void> {
      stopping = true;
      if (timer !== undefined) clearInterval(timer);
      for (const wake of sleepers) wake();
      await Promise.all([...inFlight.values(), syncing]);
    },
  };
}

export type JobWorker = ReturnType<typeof createJobWorker>;
