import type { Db } from "./db.js";
import type { RecordsRepo } from "./records.js";
import type { StoreHub } from "./events.js";
import type { DevicesRepo } from "./devices.js";
import type { HandoffOutcome, Job, DescribeInstance } from "../domain/index.js";
import { assertAbortable } from "../domain/index.js";

/**
 * Aborting a job at its source (R13), part of the jobs repository
 * (jobs.ts): the job stops, the target fences its pending devices (or a
 * forced abort does without), and those come back here.
 */
export function createJobAbort(o: {
  db: Db;
  jobs: { require(jobId: string): Job; recordOutcomes(job: Job, outcomes: HandoffOutcome[]): Job };
  /** The jobs repository's own statements: recount a job's results, set its status. */
  recount: (jobId: string, t: number) => void;
  setStatus: (jobId: string, status: Job["status"], message: string, t: number) => void;
  devices: DevicesRepo;
  records: RecordsRepo;
  hub: StoreHub;
  self: string;
  where: DescribeInstance;
  now: () => number;
}) {
  const { db } = o;
  const pendingRefs = db.prepare<[string], { device_name: string; generation: number }>(
    "SELECT device_name, generation FROM job_devices WHERE job_id = ? AND result = 'pending' ORDER BY device_name",
  );
  const abortDevice = db.prepare("UPDATE job_devices SET result = 'aborted', error_code = 'ABORTED', error_message = ? WHERE job_id = ? AND device_name = ? AND result = 'pending'");
  const setAborting = db.prepare("UPDATE jobs SET aborting = ?, message = ?, updated_at = ? WHERE job_id = ?");
  const aborting = db.prepare<[], { job_id: string }>("SELECT job_id FROM jobs WHERE aborting <> '' AND status <> 'aborted' ORDER BY updated_at");

  return {
    /**
     * Abort, step 1 (R13): the job stops sending; its pending devices keep
     * working here. `force` releases them without waiting for the target.
     */
    beginAbort(jobId: string, mode: "fence" | "force"): Job {
      const j = o.jobs.require(jobId);
      assertAbortable(jobId, j.status);
      if (j.aborting !== "force") setAborting.run(mode, mode === "force" ? "aborting (forced)" : "aborting: fencing the pending devices at the target", o.now(), jobId);
      return o.jobs.require(jobId);
    },
    /** The devices still pending in a job, at the generation it would move them at (0: not prepared). */
    pendingRefs(jobId: string): { deviceName: string; generation: number }[] {
      return pendingRefs.all(jobId).map((r) => ({ deviceName: r.device_name, generation: r.generation }));
    },
    /** Jobs whose abort waits for their target. */
    aborting(): string[] {
      return aborting.all().map((r) => r.job_id);
    },
    /**
     * Abort, step 2, one transaction: devices the target had already
     * accepted are recorded moved (as step 4 would); every other pending
     * device is held here again — at its old generation after a fence, or
     * with `force` at one above the job's, whose route outranks any late
     * batch — and its result is `aborted`. The job ends `aborted`.
     */
    finishAbort(job: Job, accepted: readonly string[], mode: "fence" | "force"): { job: Job; moved: number; returned: number } {
      const moved = new Set(accepted);
      const movedRefs = pendingRefs.all(job.jobId).filter((r) => moved.has(r.device_name) && r.generation > 0);
      if (movedRefs.length > 0) o.jobs.recordOutcomes(job, movedRefs.map((r) => ({ deviceName: r.device_name, generation: r.generation, accepted: true, errorCode: "", errorMessage: "" })));
      let returned = 0;
      const back: string[] = [];
      db.transaction(() => {
        const t = o.now();
        for (const r of pendingRefs.all(job.jobId)) {
          if (moved.has(r.device_name)) continue;
          if (r.generation > 0) {
            if (mode === "force") {
              if (o.devices.returnAt(job.productKey, r.device_name, job.jobId, r.generation + 1)) {
                o.records.commit(
                  {
                    kind: "device",
                    route: { productKey: job.productKey, deviceName: r.device_name, holder: o.self, generation: r.generation + 1, nearest: false, release: o.records.keptRelease(job.productKey, r.device_name, o.self), committedBy: o.self, committedAt: t },
                  },
                  true,
                );
              }
            } else o.devices.stayHere(job.productKey, r.device_name, job.jobId);
          }
          abortDevice.run(`job ${job.jobId} was aborted: the device stayed at ${o.where(o.self)}`, job.jobId, r.device_name);
          back.push(r.device_name);
          returned++;
        }
        const message = mode === "force" ? "aborted (forced: pending devices released without the target's fence)" : "aborted";
        o.recount(job.jobId, t);
        o.setStatus(job.jobId, "aborted", message, t);
        setAborting.run("", message, t, job.jobId);
      })();
      for (const dn of back) o.hub.emit("device.changed", { productKey: job.productKey, deviceName: dn, holder: o.self, disabled: o.devices.placementOf(job.productKey, dn)?.disabled === true });
      return { job: o.jobs.require(job.jobId), moved: movedRefs.length, returned };
    },
  };
}
