import type { Statement } from "better-sqlite3";
import type { Db } from "./db.js";
import type { RecordsRepo } from "./records.js";
import type { StoreHub } from "./events.js";
import {
  NotFoundError,
  PreconditionError,
  newJobId,
  type DescribeInstance,
  type DeviceCertificate,
  type HandoffOutcome,
  type Job,
  type JobDeviceResult,
  type JobStatus,
  type JobType,
  type RuntimeDataChoice,
  type Strategy,
} from "../domain/index.js";
import type { DevicesRepo } from "./devices.js";
import type { RuntimeDataRepo } from "./runtime-data.js";
import { leftBehindNote } from "./device-placement.js";
import { createJobAbort } from "./job-abort.js";
import { toPage, decodePageToken, type Page } from "./paging.js";

interface JobRow {
  job_id: string;
  job_type: JobType;
  account_id: string;
  product_key: string;
  strategy: Strategy;
  candidates: string;
  target_region: string;
  target_instance: string;
  target_account: string;
  status: JobStatus;
  total: number;
  succeeded: number;
  failed: number;
  message: string;
  unreachable_since: number;
  aborting: "" | "fence" | "force";
  runtime_data: RuntimeDataChoice;
  created_at: number;
  updated_at: number;
}

const toJob = (r: JobRow): Job => ({
  jobId: r.job_id,
  jobType: r.job_type,
  accountId: r.account_id,
  productKey: r.product_key,
  strategy: r.strategy,
  candidates: JSON.parse(r.candidates) as string[],
  targetRegion: r.target_region,
  targetInstance: r.target_instance,
  targetAccount: r.target_account,
  status: r.status,
  total: r.total,
  succeeded: r.succeeded,
  failed: r.failed,
  message: r.message,
  unreachableSince: r.unreachable_since,
  aborting: r.aborting,
  runtimeData: r.runtime_data,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export interface JobDeviceRecord {
  deviceName: string;
  result: JobDeviceResult;
  generation: number;
  errorCode: string;
  errorMessage: string;
  /** What the device left behind at the source (R8), once it moved. */
  note: string;
}

export interface NewJob {
  jobType: JobType;
  accountId: string;
  productKey: string;
  /** Specified when absent. */
  strategy?: Strategy;
  /** The nearest strategy's candidate instance ids. */
  candidates?: string[];
  targetRegion: string;
  targetInstance: string;
  deviceNames: string[];
  /** The receiving account of a cross-account job (R4). */
  targetAccount?: string;
  /** The job id, when the caller had to know it first (a redeemed code names it). */
  jobId?: string;
  /** keep when absent. */
  runtimeData?: RuntimeDataChoice;
}

export interface JobFilter {
  accountId: string;
  status?: JobStatus;
  productKey?: string;
  targetInstance?: string;
  targetAccount?: string;
}

export type JobsRepo = ReturnType<typeof createJobsRepo>;

/**
 * Distribution jobs at the source (ARCHITECTURE.md "The handoff", steps 1
 * and 4). A job's devices still `pending` are its outbox: the worker sends
 * them until the target has answered for each, so a crash or an outage only
 * delays a job. Each step is one transaction.
 */
export function createJobsRepo(opts: {
  db: Db;
  self: string;
  where: DescribeInstance;
  /** The devices' placement (the only writer of the devices table). */
  devices: DevicesRepo;
  /** Told of device changes after each commit, and of each device a job marks leaving (R7). */
  hub: StoreHub;
  records: RecordsRepo;
  /** Runtime data, for jobs that migrate it. */
  runtime: Pick<RuntimeDataRepo, "clearLatest" | "latest">;
  now?: () => number;
}) {
  const { db, devices, self, where } = opts;
  const now = opts.now ?? Date.now;
  const insertJob = db.prepare(
    `INSERT INTO jobs(job_id, job_type, account_id, product_key, strategy, candidates, target_region, target_instance, target_account, status, total, runtime_data, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'initializing', ?, ?, ?, ?)`,
  );
  const insertJobDevice = db.prepare("INSERT INTO job_devices(job_id, device_name, generation, result) VALUES (?, ?, 0, 'pending')");
  const selectJob = db.prepare<[string], JobRow>("SELECT * FROM jobs WHERE job_id = ?");
  const activeJobs = db.prepare<[], { job_id: string }>("SELECT job_id FROM jobs WHERE status IN ('initializing','running') AND aborting = '' ORDER BY created_at");
  const setStatus = db.prepare("UPDATE jobs SET status = ?, message = ?, updated_at = ? WHERE job_id = ?");
  const setUnreachable = db.prepare("UPDATE jobs SET unreachable_since = ?, message = ?, updated_at = ? WHERE job_id = ?");
  const recount = db.prepare(
    `UPDATE jobs SET
       succeeded = (SELECT count(*) FROM job_devices WHERE job_id = @id AND result = 'succeeded'),
       failed = (SELECT count(*) FROM job_devices WHERE job_id = @id AND result = 'failed'),
       updated_at = @t
     WHERE job_id = @id`,
  );
  const pendingNames = db.prepare<[string], { device_name: string }>("SELECT device_name FROM job_devices WHERE job_id = ? AND result = 'pending' AND generation = 0");
  const failedPlacements = db.prepare<[number], { job_id: string }>(
    "SELECT job_id FROM jobs WHERE strategy = 'placement' AND status = 'failed' AND updated_at <= ? ORDER BY updated_at LIMIT 100",
  );
  const setJobDeviceGeneration = db.prepare("UPDATE job_devices SET generation = ? WHERE job_id = ? AND device_name = ?");
  const failJobDevice = db.prepare("UPDATE job_devices SET result = 'failed', error_code = ?, error_message = ? WHERE job_id = ? AND device_name = ? AND result = 'pending'");
  const succeedJobDevice = db.prepare("UPDATE job_devices SET result = 'succeeded', error_code = '', error_message = '' WHERE job_id = ? AND device_name = ? AND result = 'pending'");
  const pendingBatch = db.prepare<[string, number], { device_name: string; generation: number }>(
    "SELECT device_name, generation FROM job_devices WHERE job_id = ? AND result = 'pending' ORDER BY device_name LIMIT ?",
  );
  const countPending = db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM job_devices WHERE job_id = ? AND result = 'pending'");
  const detail = db.prepare<[string, string, string, string, number], { device_name: string; result: JobDeviceResult; generation: number; error_code: string; error_message: string; note: string }>(
    "SELECT * FROM job_devices WHERE job_id = ? AND device_name > ? AND (? = '' OR result = ?) ORDER BY device_name LIMIT ?",
  );
  const countByStatus = db.prepare<[], { status: JobStatus; n: number }>("SELECT status, count(*) AS n FROM jobs GROUP BY status");
  /** One prepared statement per filter combination (at most sixteen). */
  const listStatements = new Map<string, Statement<(string | number)[], JobRow>>();
  const outboxDepth = db.prepare<[], { n: number }>("SELECT count(*) AS n FROM job_devices WHERE result = 'pending'");
  // Step 4, accepted: the device's part is done; its release waits to be confirmed to the target.
  const acceptJobDevice = db.prepare("UPDATE job_devices SET result = 'succeeded', error_code = '', error_message = '', note = ?, confirmed = 0 WHERE job_id = ? AND device_name = ? AND result = 'pending'");
  const setConfirmed = db.prepare("UPDATE job_devices SET confirmed = 1 WHERE job_id = ? AND device_name = ?");
  const unconfirmed = db.prepare<[number], { job_id: string; device_name: string; generation: number; product_key: string; target_instance: string; strategy: Strategy; account: string }>(
    `SELECT jd.job_id, jd.device_name, jd.generation, j.product_key, j.target_instance, j.strategy,
            CASE WHEN j.target_account = '' THEN j.account_id ELSE j.target_account END AS account
     FROM job_devices jd JOIN jobs j USING (job_id)
     WHERE jd.confirmed = 0 ORDER BY jd.job_id, jd.device_name LIMIT ?`,
  );
  const countUnconfirmed = db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM job_devices WHERE job_id = ? AND confirmed = 0");
  const deleteJobDevices = db.prepare("DELETE FROM job_devices WHERE job_id = ?");
  const deleteJob = db.prepare("DELETE FROM jobs WHERE job_id = ?");

  const repo = {
    /** Step 1a: the job and its device list, in one transaction; the worker prepares it. */
    create(j: NewJob): Job {
      const id = j.jobId ?? newJobId();
      const t = now();
      db.transaction(() => {
        insertJob.run(id, j.jobType, j.accountId, j.productKey, j.strategy ?? "specified", JSON.stringify(j.candidates ?? []), j.targetRegion, j.targetInstance, j.targetAccount ?? "", j.deviceNames.length, j.runtimeData ?? "keep", t, t);
        for (const dn of j.deviceNames) insertJobDevice.run(id, dn);
      })();
      const job = this.require(id);
      opts.hub.emit("job.changed", job);
      return job;
    },
    get(jobId: string): Job | undefined {
      const r = selectJob.get(jobId);
      return r === undefined ? undefined : toJob(r);
    },
    require(jobId: string): Job {
      const j = this.get(jobId);
      if (j === undefined) throw new NotFoundError(`job ${jobId} does not exist`, { field: "job_id" });
      return j;
    },
    active(): string[] {
      return activeJobs.all().map((r) => r.job_id);
    },
    /**
     * Step 1b, one transaction: each listed device that is held here is
     * marked leaving at generation g+1 (it keeps working here until the
     * target accepts it: cut-over at commit); a device that does not exist,
     * is away, or is in another job fails alone (R13). The job becomes
     * running.
     */
    prepare(jobId: string): Job {
      const job = this.require(jobId);
      if (job.status !== "initializing") return job;
      const marked: string[] = [];
      const left: string[] = [];
      db.transaction(() => {
        for (const { device_name: dn } of pendingNames.all(jobId)) {
          const d = devices.placementOf(job.productKey, dn);
          if (d === undefined) {
            failJobDevice.run("NOT_FOUND", `device ${job.productKey}/${dn} does not exist`, jobId, dn);
          } else if (d.placement === "away") {
            failJobDevice.run("FAILED_PRECONDITION", `device ${job.productKey}/${dn} is held by ${where(d.holder)}, not here`, jobId, dn);
          } else if (d.placement === "leaving" && d.leavingJob !== jobId) {
            failJobDevice.run("FAILED_PRECONDITION", `device ${job.productKey}/${dn} is being distributed by job ${d.leavingJob ?? "?"}`, jobId, dn);
          } else if (job.strategy === "nearest") {
            // R3: the device stays here until it bootstraps; its route now
            // says it is nearest-placed (a new generation, so every daemon
            // applies it), and the job's part for it is done.
            const g = d.generation + 1;
            devices.setGeneration(job.productKey, dn, g);
            opts.records.commit({ kind: "device", route: { productKey: job.productKey, deviceName: dn, holder: self, generation: g, nearest: true, release: opts.records.keptRelease(job.productKey, dn, self), committedBy: self, committedAt: now() } }, true);
            setJobDeviceGeneration.run(g, jobId, dn);
            succeedJobDevice.run(jobId, dn);
            marked.push(dn);
          } else {
            devices.markLeaving(job.productKey, dn, jobId);
            setJobDeviceGeneration.run(d.generation + 1, jobId, dn);
            left.push(dn);
          }
        }
        recount.run({ id: jobId, t: now() });
        setStatus.run("running", "", now(), jobId);
      })();
      for (const dn of marked) opts.hub.emit("device.changed", { productKey: job.productKey, deviceName: dn, holder: self, disabled: devices.placementOf(job.productKey, dn)?.disabled === true });
      return this.require(jobId);
    },
    /**
     * A nearest-strategy device to move to `target` (R3), as a one-device
     * placement job, deduplicated: a device already leaving for `target` in
     * a placement job returns that job, so a burst of bootstraps makes one
     * move. Refused (with the reason) when the device is not held here, is
     * leaving in another job, or is not nearest-placed.
     */
    placement(productKey: string, deviceName: string, accountId: string, targetRegion: string, target: string): { job: Job; created: boolean } | { refused: string } {
      return db.transaction((): { job: Job; created: boolean } | { refused: string } => {
        const d = devices.placementOf(productKey, deviceName);
        if (d === undefined) return { refused: `device ${productKey}/${deviceName} does not exist here` };
        if (d.placement === "away") return { refused: `device ${productKey}/${deviceName} is held by ${where(d.holder)}, not here` };
        if (d.placement === "leaving") {
          const j = d.leavingJob === null ? undefined : this.get(d.leavingJob);
          if (j !== undefined && j.strategy === "placement" && j.targetInstance === target) return { job: j, created: false };
          return { refused: `device ${productKey}/${deviceName} is being distributed by job ${d.leavingJob ?? "?"}` };
        }
        if (opts.records.device(productKey, deviceName)?.nearest !== true) return { refused: `device ${productKey}/${deviceName} is not placed by the nearest strategy` };
        const job = this.create({ jobType: "device", accountId, productKey, strategy: "placement", targetRegion, targetInstance: target, deviceNames: [deviceName] });
        return { job: this.prepare(job.jobId), created: true };
      })();
    },
    /** Placement jobs that failed (target unreachable past the retry window) at least `ageMs` ago. */
    failedPlacements(ageMs: number): string[] {
      return failedPlacements.all(now() - ageMs).map((r) => r.job_id);
    },
    /** The next pending devices with their certificates (secrets opened for the peer call only). */
    pendingBatch(jobId: string, productKey: string, limit: number): DeviceCertificate[] {
      const out: DeviceCertificate[] = [];
      const migrate = selectJob.get(jobId)?.runtime_data === "migrate";
      for (const r of pendingBatch.all(jobId, limit)) {
        const cert = devices.certificate(productKey, r.device_name, r.generation);
        if (cert === undefined) continue;
        // With how this daemon got it: the target takes a device only from its holder.
        const acquired = opts.records.keptRelease(productKey, r.device_name, self);
        if (!migrate) {
          out.push({ ...cert, acquired });
          continue;
        }
        const shadow = devices.shadow(productKey, r.device_name);
        out.push({ ...cert, acquired, runtime: { properties: opts.runtime.latest(productKey, r.device_name), shadow: shadow.version === 0 ? undefined : shadow } });
      }
      return out;
    },
    /**
     * Step 4, one transaction: accepted devices become away at the target
     * (their name stays reserved here, R10; runtime data stays, tags are
     * cleared, R8) and wait for their release to be confirmed to the target
     * (step 5); refused ones are held here again at their old generation.
     * The job completes when no device is pending. After the commit each
     * accepted device is announced moved (R7: notified, its session cut).
     */
    recordOutcomes(job: Job, outcomes: HandoffOutcome[]): Job {
      const accepted: string[] = [];
      const refused: string[] = [];
      db.transaction(() => {
        for (const o of outcomes) {
          if (o.accepted) {
            const left = devices.moveAway(job.productKey, o.deviceName, job.jobId, job.targetInstance, o.generation);
            if (left !== undefined) {
              // runtime_data: migrate — the latest values and the shadow went with the device.
              if (job.runtimeData === "migrate") {
                opts.runtime.clearLatest(job.productKey, o.deviceName);
                devices.clearShadow(job.productKey, o.deviceName);
              }
              const t = now();
              opts.records.commit(
                {
                  kind: "device",
                  route: { productKey: job.productKey, deviceName: o.deviceName, holder: job.targetInstance, generation: o.generation, nearest: job.strategy !== "specified", committedBy: job.targetInstance, committedAt: t },
                },
                false,
              );
              acceptJobDevice.run(leftBehindNote(left), job.jobId, o.deviceName);
              accepted.push(o.deviceName);
            }
          } else {
            devices.stayHere(job.productKey, o.deviceName, job.jobId);
            failJobDevice.run(o.errorCode || "FAILED_PRECONDITION", o.errorMessage, job.jobId, o.deviceName);
            refused.push(o.deviceName);
          }
        }
        recount.run({ id: job.jobId, t: now() });
        // Completed once every device has a result and every release is confirmed at the target (step 5).
        if (countPending.get(job.jobId)!.n === 0 && countUnconfirmed.get(job.jobId)!.n === 0) setStatus.run("completed", "", now(), job.jobId);
        if (job.unreachableSince !== 0) setUnreachable.run(0, "", now(), job.jobId);
      })();
      // The route may already be newer than this job (the device moved on): answer the newest holder.
      for (const dn of accepted) {
        opts.hub.emit("device.changed", { productKey: job.productKey, deviceName: dn, holder: opts.records.device(job.productKey, dn)?.holder ?? job.targetInstance, disabled: false });
        opts.hub.emit("device.moved", { productKey: job.productKey, deviceName: dn });
      }
      for (const dn of refused) opts.hub.emit("device.changed", { productKey: job.productKey, deviceName: dn, holder: self, disabled: devices.placementOf(job.productKey, dn)?.disabled === true });
      return this.require(job.jobId);
    },
    /** The whole remaining batch was refused by the target (it applied nothing). */
    refuseRest(job: Job, code: string, message: string, names: string[]): Job {
      return this.recordOutcomes(
        job,
        names.map((deviceName) => ({ deviceName, generation: 0, accepted: false, errorCode: code, errorMessage: message })),
      );
    },
    complete(jobId: string): Job {
      db.transaction(() => {
        recount.run({ id: jobId, t: now() });
        setStatus.run("completed", "", now(), jobId);
      })();
      return this.require(jobId);
    },
    /** The target could not be reached; `since` is kept from the first failure. */
    unreachable(jobId: string, since: number, message: string): void {
      setUnreachable.run(since, message, now(), jobId);
    },
    /**
     * Past the retry window the job fails (R13). Its pending devices stay
     * leaving at their generation: the target may have applied them, and a
     * retry asks again with the same generation, so nothing is applied twice.
     */
    fail(jobId: string, message: string): Job {
      setStatus.run("failed", message, now(), jobId);
      return this.require(jobId);
    },
    retry(jobId: string): Job {
      db.transaction(() => {
        setUnreachable.run(0, "", now(), jobId);
        setStatus.run("running", "", now(), jobId);
      })();
      return this.require(jobId);
    },
    list(filter: JobFilter, size: number, pageToken: string): Page<Job> {
      const after = decodePageToken(pageToken);
      const where = ["account_id = ?"];
      const args: (string | number)[] = [filter.accountId];
      if (after !== undefined) {
        const [t, id] = after.split("/");
        where.push("(created_at < ? OR (created_at = ? AND job_id > ?))");
        args.push(Number(t), Number(t), id ?? "");
      }
      const eq = (column: string, value: string | undefined): void => {
        if (value === undefined) return;
        where.push(`${column} = ?`);
        args.push(value);
      };
      eq("status", filter.status);
      eq("product_key", filter.productKey);
      eq("target_instance", filter.targetInstance);
      eq("target_account", filter.targetAccount);
      args.push(size + 1);
      const sql = `SELECT * FROM jobs WHERE ${where.join(" AND ")} ORDER BY created_at DESC, job_id LIMIT ?`;
      let stmt = listStatements.get(sql);
      if (stmt === undefined) listStatements.set(sql, (stmt = db.prepare<(string | number)[], JobRow>(sql)));
      const rows = stmt.all(...args);
      return toPage(rows.map(toJob), size, (j) => `${j.createdAt}/${j.jobId}`);
    },
    detail(jobId: string, size: number, pageToken: string, result: JobDeviceResult | ""): Page<JobDeviceRecord> {
      const after = decodePageToken(pageToken) ?? "";
      const rows = detail.all(jobId, after, result, result, size + 1).map((r) => ({
        deviceName: r.device_name,
        result: r.result,
        generation: r.generation,
        errorCode: r.error_code,
        errorMessage: r.error_message,
        note: r.note,
      }));
      return toPage(rows, size, (r) => r.deviceName);
    },
    /**
     * Step 5's outbox: devices a target accepted whose release it has not
     * been told of yet, by job. A crash only delays them.
     */
    /** Releases not yet confirmed to their target, by job, with the account the devices went to there. */
    unconfirmed(limit = 1000): { jobId: string; productKey: string; target: string; account: string; nearest: boolean; devices: { deviceName: string; generation: number }[] }[] {
      const byJob = new Map<string, { jobId: string; productKey: string; target: string; account: string; nearest: boolean; devices: { deviceName: string; generation: number }[] }>();
      for (const r of unconfirmed.all(limit)) {
        let j = byJob.get(r.job_id);
        if (j === undefined) byJob.set(r.job_id, (j = { jobId: r.job_id, productKey: r.product_key, target: r.target_instance, account: r.account, nearest: r.strategy !== "specified", devices: [] }));
        j.devices.push({ deviceName: r.device_name, generation: r.generation });
      }
      return [...byJob.values()];
    },
    /** Whether every release of the job was confirmed to its target. */
    allConfirmed(jobId: string): boolean {
      return countUnconfirmed.get(jobId)!.n === 0;
    },
    /** The target was told of these releases. */
    confirmed(jobId: string, deviceNames: readonly string[]): void {
      db.transaction(() => {
        for (const dn of deviceNames) setConfirmed.run(jobId, dn);
      })();
    },
    /** Removes a finished job's record: completed or aborted, with every release confirmed. */
    delete(jobId: string): void {
      const j = this.require(jobId);
      if (j.status !== "completed" && j.status !== "aborted") {
        throw new PreconditionError(`job ${jobId} is ${j.status}: only a completed or aborted job can be deleted (abort it first)`, { field: "job_id" });
      }
      if (countUnconfirmed.get(jobId)!.n > 0) throw new PreconditionError(`job ${jobId} still has releases to confirm to its target; try again shortly`, { field: "job_id" });
      db.transaction(() => {
        deleteJobDevices.run(jobId);
        deleteJob.run(jobId);
      })();
    },
    countByStatus(): Map<JobStatus, number> {
      return new Map(countByStatus.all().map((r) => [r.status, r.n]));
    },
    outboxDepth(): number {
      return outboxDepth.get()!.n;
    },
  };
  // Aborting a job (job-abort.ts) works on the same rows.
  return {
    ...repo,
    ...createJobAbort({
      db,
      jobs: repo,
      recount: (id, t) => recount.run({ id, t }),
      setStatus: (id, status, message, t) => setStatus.run(status, message, t, id),
      devices,
      records: opts.records,
      hub: opts.hub,
      self,
      where,
      now,
    }),
  };
}
