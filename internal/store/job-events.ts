import type { Db } from "./db.js";

/** A job's last announced state: its status and how many devices had a result. */
export interface AnnouncedJobState {
  status: string;
  settled: number;
}

export type JobEventsRepo = ReturnType<typeof createJobEventsRepo>;

/**
 * What the job events publisher keeps (internal/jobs/job-events.ts): per
 * job, the state last announced (so a restart announces nothing twice),
 * and per webhook, the events still to deliver, in order.
 */
export function createJobEventsRepo(db: Db, now: () => number = Date.now) {
  const selectAnnounced = db.prepare<[string], { event_status: string; event_settled: number }>("SELECT event_status, event_settled FROM jobs WHERE job_id = ?");
  const setAnnounced = db.prepare("UPDATE jobs SET event_status = ?, event_settled = ? WHERE job_id = ?");
  const insert = db.prepare("INSERT INTO job_event_outbox(webhook, body, next_at, created_at) VALUES (?, ?, ?, ?)");
  const next = db.prepare<[string], { seq: number; body: string; attempts: number; next_at: number }>(
    "SELECT seq, body, attempts, next_at FROM job_event_outbox WHERE webhook = ? ORDER BY seq LIMIT 1",
  );
  const remove = db.prepare("DELETE FROM job_event_outbox WHERE seq = ?");
  const retry = db.prepare("UPDATE job_event_outbox SET attempts = attempts + 1, next_at = ? WHERE seq = ?");
  const depth = db.prepare<[], { n: number }>("SELECT count(*) AS n FROM job_event_outbox");
  return {
    announced(jobId: string): AnnouncedJobState | undefined {
      const r = selectAnnounced.get(jobId);
      return r === undefined ? undefined : { status: r.event_status, settled: r.event_settled };
    },
    /** Records the job's new announced state and queues `bodies` for every webhook, in one transaction. */
    announce(jobId: string, state: AnnouncedJobState, bodies: readonly string[], webhooks: readonly string[]): void {
      const t = now();
      db.transaction(() => {
        setAnnounced.run(state.status, state.settled, jobId);
        for (const body of bodies) for (const w of webhooks) insert.run(w, body, t, t);
      })();
    },
    /** The oldest event still to deliver to `webhook`. */
    next(webhook: string): { seq: number; body: string; attempts: number; dueAt: number } | undefined {
      const r = next.get(webhook);
      return r === undefined ? undefined : { seq: r.seq, body: r.body, attempts: r.attempts, dueAt: r.next_at };
    },
    /** Delivered, or given up on. */
    done(seq: number): void {
      remove.run(seq);
    },
    retryAt(seq: number, at: number): void {
      retry.run(at, seq);
    },
    depth(): number {
      return depth.get()!.n;
    },
  };
}
