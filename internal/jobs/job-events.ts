import { createHmac, randomUUID } from "node:crypto";
import { jobStatusCode, type Job } from "../domain/index.js";
import type { AnnouncedJobState, JobEventsRepo, StoreHub } from "../store/index.js";
import type { Metrics } from "../metrics/index.js";
import type { Logger } from "../log/index.js";

export type JobEventType = "job.created" | "job.running" | "job.progress" | "job.completed" | "job.failed" | "job.aborted";

/**
 * The events due when a job goes from its last announced state to `job`:
 * one per status change (created, running, completed, failed, aborted) and
 * a progress event each time `every` more devices have a result. Pure.
 */
export function jobEventsDue(prev: AnnouncedJobState | undefined, job: Pick<Job, "status" | "succeeded" | "failed">, every: number): JobEventType[] {
  const settled = job.succeeded + job.failed;
  const before = prev ?? { status: "", settled: 0 };
  const changed = job.status !== before.status;
  const out: JobEventType[] = [];
  if (before.status === "") out.push("job.created");
  if (changed && job.status === "running") out.push("job.running");
  if (Math.floor(settled / every) > Math.floor(before.settled / every)) out.push("job.progress");
  if (changed && job.status !== "running" && job.status !== "initializing") out.push(`job.${job.status}`);
  return out;
}

/** The documented payload of a job event (docs/guides/jobs.md); no secret in it. */
export function jobEventBody(type: JobEventType, job: Job, source: { id: string; region: string }, regionOf: (id: string) => string): Record<string, unknown> {
  return {
    type,
    id: randomUUID(),
    time: Date.now(),
    jobId: job.jobId,
    jobType: job.jobType,
    accountId: job.accountId,
    productKey: job.productKey,
    strategy: job.strategy,
    sourceRegionId: source.region,
    sourceInstanceId: source.id,
    targetRegionId: job.targetRegion || regionOf(job.targetInstance),
    targetInstanceId: job.targetInstance,
    targetAccountId: job.targetAccount,
    status: job.status,
    statusCode: jobStatusCode(job.status),
    total: job.total,
    succeeded: job.succeeded,
    failed: job.failed,
    pending: Math.max(0, job.total - job.succeeded - job.failed),
    message: job.message,
  };
}

/** `sha256=<hex>` of `<timestamp>.<body>` with the webhook's secret: what a receiver recomputes. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

export interface JobEventsOptions {
  repo: JobEventsRepo;
  hub: StoreHub;
  self: { id: string; region: string };
  regionOf: (instanceId: string) => string;
  subjectPrefix: string;
  progressEvery: number;
  webhooks: readonly { url: string; secret: string }[];
  maxAttempts: number;
  timeoutMs: number;
  /** Publishes on core NATS (best effort; false when not connected). */
  publish: (subject: string, data: Uint8Array) => void;
  metrics: Metrics;
  logger: Logger;
}

/**
 * Job events: every state change of a job made here is announced once, on
 * NATS (`<prefix>.<sourceInstanceId>.<jobId>`) and to each configured
 * webhook as a signed POST. Webhook deliveries are durable (an outbox in the
 * store), in order per webhook, retried with exponential backoff, and
 * dead-lettered after the configured attempts.
 */
export function createJobEvents(o: JobEventsOptions) {
  const { repo, metrics, logger: log } = o;
  let stopping = false;
  const loops = new Map<string, Promise<void>>();
  const wakers = new Map<string, () => void>();

  o.hub.on("job.changed", (job) => {
    const prev = repo.announced(job.jobId);
    const due = jobEventsDue(prev, job, o.progressEvery);
    if (due.length === 0) return;
    const bodies = due.map((type) => JSON.stringify(jobEventBody(type, job, o.self, o.regionOf)));
    repo.announce(job.jobId, { status: job.status, settled: job.succeeded + job.failed }, bodies, o.webhooks.map((w) => w.url));
    for (let i = 0; i < due.length; i++) {
      metrics.jobEvents.inc({ type: due[i]! });
      o.publish(`${o.subjectPrefix}.${o.self.id}.${job.jobId}`, new TextEncoder().encode(bodies[i]));
    }
    for (const w of o.webhooks) wakers.get(w.url)?.();
  });

  const pause = (url: string, ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        wakers.delete(url);
        resolve();
      }
      wakers.set(url, done);
    });

  async function deliver(w: { url: string; secret: string }, body: string): Promise<boolean> {
    const timestamp = String(Date.now());
    try {
      const res = await fetch(w.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-iotfed-event": (JSON.parse(body) as { type: string }).type,
          "x-iotfed-timestamp": timestamp,
          "x-iotfed-signature": webhookSignature(w.secret, timestamp, body),
        },
        body,
        signal: AbortSignal.timeout(o.timeoutMs),
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.status >= 200 && res.status < 300;
    } catch {
      return false;
    }
  }

  async function loop(w: { url: string; secret: string }): Promise<void> {
    while (!stopping) {
      const e = repo.next(w.url);
      if (e === undefined) {
        await pause(w.url, 5000);
        continue;
      }
      const wait = e.dueAt - Date.now();
      if (wait > 0) {
        await pause(w.url, wait);
        continue;
      }
      if (await deliver(w, e.body)) {
        repo.done(e.seq);
        metrics.jobWebhookDeliveries.inc({ result: "delivered" });
      } else if (e.attempts + 1 >= o.maxAttempts) {
        repo.done(e.seq);
        metrics.jobWebhookDeliveries.inc({ result: "dead" });
        log.error({ webhook: w.url, attempts: e.attempts + 1 }, "job event dead-lettered: the webhook refused it every time");
      } else {
        repo.retryAt(e.seq, Date.now() + Math.min(60_000, 250 * 2 ** e.attempts));
        metrics.jobWebhookDeliveries.inc({ result: "retried" });
      }
    }
  }

  return {
    start(): void {
      for (const w of o.webhooks) if (!loops.has(w.url)) loops.set(w.url, loop(w).catch((e: unknown) => log.error({ err: e, webhook: w.url }, "job webhook delivery stopped")));
    },
    async stop(): Promise<void> {
      stopping = true;
      for (const wake of [...wakers.values()]) wake();
      await Promise.all(loops.values());
    },
  };
}
