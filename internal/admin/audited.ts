import { IotfedError } from "../domain/index.js";
import type { AuditEntry, AuditRepo } from "../store/index.js";
import type { AdminContext } from "./context.js";

/** An audit event's subject; the actor comes from the call's context. */
export type AuditSubject = Omit<AuditEntry, "actorKind" | "actorAccount" | "actorAddress" | "result">;

export type Audited = ReturnType<typeof createAudited>;

/**
 * The audit log of cross-account actions as the admin API writes it: who
 * (operator, account, acting-for), from where, on what, and how it ended.
 */
export function createAudited(audit: AuditRepo) {
  const record = (ctx: AdminContext, e: AuditSubject & { result: AuditEntry["result"] }): void => {
    const p = ctx.principal;
    audit.record({ ...e, actorKind: p.kind, actorAccount: p.kind === "account" ? p.accountId : (p.actingFor ?? ""), actorAddress: ctx.address });
  };
  return {
    record,
    /**
     * Runs `fn`; a refusal it throws (a domain error, or a peer's passed on
     * by `mapError`) is audited as refused with its message and rethrown.
     * A success is audited only by the caller, which knows its subject id.
     */
    async refusals<T>(ctx: AdminContext, subject: AuditSubject, fn: () => T | Promise<T>, mapError: (e: unknown) => unknown = (e) => e): Promise<T> {
      try {
        return await fn();
      } catch (e) {
        const err = mapError(e);
        if (err instanceof IotfedError) record(ctx, { ...subject, result: "refused", detail: err.message });
        throw err;
      }
    },
    /** The synchronous form of `refusals`. */
    refusalsSync<T>(ctx: AdminContext, subject: AuditSubject, fn: () => T): T {
      try {
        return fn();
      } catch (e) {
        if (e instanceof IotfedError) record(ctx, { ...subject, result: "refused", detail: e.message });
        throw e;
      }
    },
  };
}
