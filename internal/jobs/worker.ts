import type * as grpc from "@grpc/grpc-js";

import type { JobsRepo, ProductsRepo, StoreHub } from "../store/index.js";
import { signReleases, type SigningKey } from "../trust/index.js";
import { isRetryable, type DeviceCertificate, type ErrorCode, type Job, type RemoteError } from "../domain/index.js";
import { bundleToWire, certToWire, signedBundle, type PeerClient } from "../peer/index.js";
import { fromPeerError, statusName } from "../rpc/index.js";
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
  /** This instance's id (a nearest job's candidate set may name it). */
  self: string;
  /** Failed placement jobs are retried after this long (their devices wait, leaving, R3). */
  retryFailedPlacementsAfterMs?: number;
  /** Where each committed step of a job is announced (`job.changed`: placements wait on their job). */
  hub: StoreHub;
  /** Signs the releases this daemon confirms (docs/operating/security.md); undefined: unsigned (no peer certificate). */
  signingKey?: SigningKey | undefined;
  metrics: Metrics;
  logger: Logger;
}


/**
 * The outbox worker at the source (ARCHITECTURE.md "The handoff", steps 2
 * and 4): it prepares new jobs, sends their pending devices to the target in
 * batches, records each answer in one transaction, retries with backoff
 * while the target is unreachable, and fails the job past the retry window.
 * It also brings read-only product copies up to the owner's version.
 */
export function createJobWorker(opts: JobWorkerOptions) {
  const { jobs, products, peers, metrics, logger, self } = opts;
  const changed = (job: Job): void => opts.hub.emit("job.changed", job);
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

  type Delivery = { ok: true; res: Awaited<ReturnType<PeerClient["handoff"]>> } | { ok: false; job: Job; code?: ErrorCode; message?: string };

  /**
   * One Handoff call to `target`, retried with backoff while the target is
   * unreachable; past the retry window the job fails (R13). Returns the
   * response, or the job as it stands when the call was refused (`code`) or
   * the job failed or the worker is stopping.
   */
  async function deliver(job: Job, target: string, devices: DeviceCertificate[]): Promise<Delivery> {
    const client = peers.get(target)!;
    let backoff = 200;
    for (;;) {
      if (stopping || jobs.require(job.jobId).aborting !== "") return { ok: false, job: jobs.require(job.jobId) };
      const end = metrics.handoffDuration.startTimer({ direction: "out" });
      try {
        const res = await client.handoff({
          jobId: job.jobId,
          sourceRegionId: opts.regionId,
          product: bundleToWire(signedBundle(products.bundle(job.productKey), opts.signingKey)),
          devices: devices.map(certToWire),
          targetAccountId: job.targetAccount || job.accountId,
          strategy: job.strategy === "specified" ? "specified" : "nearest",
        });
        end();
        products.recordCopy(job.productKey, target, Number(res.productVersion));
        if (job.unreachableSince !== 0) {
          jobs.unreachable(job.jobId, 0, "");
          job = jobs.require(job.jobId);
        }
        return { ok: true, res };
      } catch (e) {
        const code = (e as grpc.ServiceError).code;
        if (typeof code !== "number") throw e;
        metrics.peerCallErrors.inc({ peer: target, code: statusName(code) });
        // The outcome of a retryable failure is unknown: the same request is sent again later.
        const err = fromPeerError(target, e) as RemoteError;
        if (!isRetryable(err.code)) {
          logger.warn({ job: job.jobId, target, code: err.code }, "target refused handoff");
          return { ok: false, job, code: err.code, message: err.message };
        }
        const since = job.unreachableSince || Date.now();
        const why = `target ${target} unreachable since ${new Date(since).toISOString()}: ${statusName(code)}`;
        if (Date.now() - since > opts.retryWindowMs) {
          job = jobs.fail(job.jobId, `${why}; past the ${opts.retryWindowMs} ms retry window: retry the job`);
          logger.warn({ job: job.jobId, target }, "job failed: target unreachable past the retry window");
          changed(job);
          return { ok: false, job };
        }
        jobs.unreachable(job.jobId, since, why);
        job = jobs.require(job.jobId);
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  /** Specified and placement jobs: the pending devices go to the one target in batches. */
  async function runToTarget(job: Job): Promise<Job> {
    const target = job.targetInstance;
    let productSent = false;
    while (!stopping && job.status === "running" && job.aborting === "") {
      const batch = jobs.pendingBatch(job.jobId, job.productKey, opts.batchSize);
      if (batch.length === 0 && productSent) {
        // Step 5 for the whole job in one call; the job completes once its target confirmed every release.
        await confirmReleases();
        if (jobs.allConfirmed(job.jobId)) return jobs.complete(job.jobId);
        if (stopping) return job;
        await sleep(1000);
        job = jobs.require(job.jobId);
        continue;
      }
      const d = await deliver(job, target, batch);
      if (!d.ok) {
        job = d.job;
        if (d.code === undefined) return jobs.require(job.jobId);
        // The target refused the whole call and applied nothing.
        if (job.jobType === "product") return jobs.fail(job.jobId, `${d.code}: ${d.message ?? ""}`);
        const all = jobs.pendingBatch(job.jobId, job.productKey, Number.MAX_SAFE_INTEGER).map((x) => x.deviceName);
        job = jobs.refuseRest(job, d.code, d.message ?? "", all);
        productSent = true;
        changed(job);
        continue;
      }
      productSent = true;
      const outcomes = d.res.outcomes.map((o) => ({ ...o, generation: Number(o.generation) }));
      for (const o of outcomes) metrics.handoffDevices.inc({ direction: "out", result: o.accepted ? "accepted" : "refused" });
      job = jobs.recordOutcomes(jobs.require(job.jobId), outcomes);
      if (batch.length === 0) job = jobs.complete(job.jobId);
      changed(job);
    }
    return job;
  }

  /**
   * Nearest-strategy jobs (R3): the product's candidate set is published
   * with its route, the listed devices are marked nearest-placed here, and
   * the product goes at once to every candidate but this one. Devices move
   * later, each when it bootstraps.
   */
  async function runNearest(job: Job): Promise<Job> {
    for (const target of job.candidates) {
      if (target === self) continue;
      if (stopping || job.status !== "running") return job;
      const d = await deliver(job, target, []);
      if (!d.ok) {
        if (d.code === undefined) return jobs.require(job.jobId);
        return jobs.fail(job.jobId, `product to ${target}: ${d.code}: ${d.message ?? ""}`);
      }
      job = jobs.require(job.jobId);
    }
    return jobs.complete(job.jobId);
  }

  async function runJob(jobId: string): Promise<void> {
    let job = jobs.require(jobId);
    if (job.strategy === "nearest" && job.status === "initializing") products.setCandidates(job.productKey, job.candidates);
    job = jobs.prepare(jobId);
    changed(job);
    const targets = job.strategy === "nearest" ? job.candidates.filter((c) => c !== self) : [job.targetInstance];
    const missing = targets.find((t) => !peers.has(t));
    if (missing !== undefined) {
      changed(jobs.fail(jobId, `target ${missing} is not a configured peer`));
      return;
    }
    job = job.strategy === "nearest" ? await runNearest(job) : await runToTarget(job);
    changed(job);
    if (job.status === "completed") {
      logger.info({ job: jobId, strategy: job.strategy, target: job.targetInstance || job.candidates.join(","), succeeded: job.succeeded, failed: job.failed }, "job completed");
    }
  }

  /**
   * Step 5: tells each target which of the devices it accepted were
   * released here (cut over); only then do they sign in there. Unconfirmed
   * releases are durable (job_devices.confirmed), so a failure or a crash
   * only delays them.
   */
  async function confirmReleases(): Promise<void> {
    for (const u of jobs.unconfirmed()) {
      if (stopping) return;
      const client = peers.get(u.target);
      if (client === undefined) continue;
      // In chunks the target takes per call, sent at once.
      const chunks: (typeof u.devices)[] = [];
      for (let i = 0; i < u.devices.length; i += opts.batchSize) chunks.push(u.devices.slice(i, i + opts.batchSize));
      await Promise.all(
        chunks.map(async (chunk) => {
          try {
            await client.confirmHandoff({
              jobId: u.jobId,
              productKey: u.productKey,
              devices: chunk.map((d) => ({ deviceName: d.deviceName, generation: BigInt(d.generation) })),
              nearest: u.nearest,
              // The proof, for every daemon, that these devices were let go to the target.
              ...(opts.signingKey === undefined ? {} : { release: signReleases(opts.signingKey, { to: u.target, productKey: u.productKey, account: u.account, nearest: u.nearest }, chunk) }),
            });
            jobs.confirmed(u.jobId, chunk.map((d) => d.deviceName));
          } catch (e) {
            const code = (e as grpc.ServiceError).code;
            if (typeof code !== "number") throw e;
            metrics.peerCallErrors.inc({ peer: u.target, code: statusName(code) });
          }
        }),
      );
    }
  }

  /**
   * Abort (R13), fenced: the target records that it refuses the job's
   * pending devices (and names those it accepted already), then they are
   * held here again. Without the target, a forced abort releases them at
   * a generation no late batch beats. Returns undefined while the target
   * cannot be reached (the abort stays pending and is tried again).
   */
  async function settleAbort(jobId: string): Promise<{ job: Job; moved: number; returned: number } | undefined> {
    const job = jobs.require(jobId);
    if (job.status === "aborted") return { job, moved: 0, returned: 0 };
    const pending = jobs.pendingRefs(jobId).filter((r) => r.generation > 0);
    if (pending.length === 0 || job.aborting === "force") {
      const r = jobs.finishAbort(job, [], job.aborting === "force" ? "force" : "fence");
      changed(r.job);
      return r;
    }
    const client = peers.get(job.targetInstance);
    if (client === undefined) return undefined;
    try {
      const accepted: string[] = [];
      for (let i = 0; i < pending.length; i += opts.batchSize) {
        const res = await client.fenceHandoff({
          jobId,
          productKey: job.productKey,
          devices: pending.slice(i, i + opts.batchSize).map((d) => ({ deviceName: d.deviceName, generation: BigInt(d.generation) })),
        });
        accepted.push(...res.acceptedDeviceNames);
      }
      const r = jobs.finishAbort(jobs.require(jobId), accepted, "fence");
      changed(r.job);
      logger.info({ job: jobId, target: job.targetInstance, moved: r.moved, returned: r.returned }, "job aborted");
      await confirmReleases();
      return r;
    } catch (e) {
      const code = (e as grpc.ServiceError).code;
      if (typeof code !== "number") throw e;
      metrics.peerCallErrors.inc({ peer: job.targetInstance, code: statusName(code) });
      const err = fromPeerError(job.targetInstance, e) as RemoteError;
      if (!isRetryable(err.code)) throw err;
      return undefined;
    }
  }

  async function syncCopies(): Promise<void> {
    for (const c of products.staleCopies()) {
      if (stopping) return;
      const client = peers.get(c.instanceId);
      if (client === undefined) continue;
      try {
        const res = await client.syncProduct({ product: bundleToWire(signedBundle(products.bundle(c.productKey), opts.signingKey)) });
        products.recordCopy(c.productKey, c.instanceId, Number(res.version));
      } catch (e) {
        const code = (e as grpc.ServiceError).code;
        if (typeof code !== "number") throw e;
        metrics.peerCallErrors.inc({ peer: c.instanceId, code: statusName(code) });
      }
    }
  }

  function scan(): void {
    if (stopping) return;
    // A placement move whose target stayed unreachable past the retry window
    // is retried on its own: no operator started it.
    for (const id of jobs.failedPlacements(opts.retryFailedPlacementsAfterMs ?? 30000)) jobs.retry(id);
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
    // Aborts waiting for their target, and releases not yet confirmed to theirs.
    for (const jobId of jobs.aborting()) {
      if (inFlight.has(jobId)) continue;
      const p = settleAbort(jobId)
        .then(() => undefined)
        .catch((e: unknown) => logger.error({ err: e, job: jobId }, "abort failed"))
        .finally(() => inFlight.delete(jobId));
      inFlight.set(jobId, p);
    }
    if (syncing === undefined) {
      syncing = Promise.all([confirmReleases(), syncCopies()])
        .then(() => undefined)
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
    /**
     * Aborts a job (R13): stops it, waits for a batch in flight, then fences
     * (or, with force, releases) its pending devices. Waits for an
     * unreachable target up to `waitMs`, then returns the job still aborting
     * (the worker keeps trying).
     */
    async abort(jobId: string, force: boolean, waitMs: number): Promise<{ job: Job; moved: number; returned: number }> {
      jobs.beginAbort(jobId, force ? "force" : "fence");
      const deadline = Date.now() + waitMs;
      for (;;) {
        const running = inFlight.get(jobId);
        if (running !== undefined) await Promise.race([running, new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))]);
        if (!inFlight.has(jobId)) {
          const p = settleAbort(jobId);
          inFlight.set(jobId, p.then(() => undefined, () => undefined).finally(() => inFlight.delete(jobId)));
          const r = await p;
          if (r !== undefined) return r;
        }
        if (Date.now() >= deadline) return { job: jobs.require(jobId), moved: 0, returned: 0 };
        await sleep(Math.min(500, Math.max(0, deadline - Date.now())));
      }
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
