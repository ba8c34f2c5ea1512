import type { Db } from "./db.js";
import type { StoreHub } from "./events.js";
import { decodePageToken, toPage, type Page } from "./paging.js";

/** One cross-account action (code issued, used or refused, job, grant, revoke, pool entry). */
export interface AuditEntry {
  action: string;
  result: "ok" | "refused";
  actorKind: "operator" | "account" | "peer";
  actorAccount: string;
  /** The client's address, or the calling peer instance and its address. */
  actorAddress: string;
  /** The account owning the subject (source, grantor, owner). */
  accountId: string;
  /** The other account concerned (target, grantee). */
  otherAccount?: string;
  productKey?: string;
  deviceName?: string;
  instanceId?: string;
  subjectId?: string;
  detail?: string;
}

export interface AuditRecord extends Required<AuditEntry> {
  seq: number;
  at: number;
}

interface Row {
  seq: number;
  at: number;
  action: string;
  result: "ok" | "refused";
  actor_kind: AuditEntry["actorKind"];
  actor_account: string;
  actor_address: string;
  account_id: string;
  other_account: string;
  product_key: string;
  device_name: string;
  instance_id: string;
  subject_id: string;
  detail: string;
}

const toRecord = (r: Row): AuditRecord => ({
  seq: r.seq,
  at: r.at,
  action: r.action,
  result: r.result,
  actorKind: r.actor_kind,
  actorAccount: r.actor_account,
  actorAddress: r.actor_address,
  accountId: r.account_id,
  otherAccount: r.other_account,
  productKey: r.product_key,
  deviceName: r.device_name,
  instanceId: r.instance_id,
  subjectId: r.subject_id,
  detail: r.detail,
});

export type AuditRepo = ReturnType<typeof createAuditRepo>;

/**
 * The audit log of cross-account actions at this instance: who, what,
 * when and from which address. An account reads the events that name it
 * (as owner or as the other party); the operator reads all. Never holds a
 * code, token or secret.
 */
export function createAuditRepo(db: Db, hub: StoreHub, now: () => number = Date.now) {
  const insert = db.prepare(
    `INSERT INTO audit_log(at, action, result, actor_kind, actor_account, actor_address, account_id, other_account, product_key, device_name, instance_id, subject_id, detail)
     VALUES (@at, @action, @result, @actorKind, @actorAccount, @actorAddress, @accountId, @otherAccount, @productKey, @deviceName, @instanceId, @subjectId, @detail)`,
  );
  const forAccount = db.prepare<[string, string, number, string, string, number], Row>(
    `SELECT * FROM audit_log WHERE (account_id = ? OR other_account = ?) AND seq < ? AND (? = '' OR action = ?) ORDER BY seq DESC LIMIT ?`,
  );
  const all = db.prepare<[number, string, string, number], Row>(`SELECT * FROM audit_log WHERE seq < ? AND (? = '' OR action = ?) ORDER BY seq DESC LIMIT ?`);

  return {
    record(e: AuditEntry): void {
      insert.run({
        at: now(),
        otherAccount: "",
        productKey: "",
        deviceName: "",
        instanceId: "",
        subjectId: "",
        detail: "",
        ...e,
      });
      hub.emit("audit.recorded", e);
    },
    /** Newest first; `account` undefined reads every event (the operator). */
    list(account: string | undefined, action: string, size: number, pageToken: string): Page<AuditRecord> {
      const after = decodePageToken(pageToken);
      const before = after === undefined ? Number.MAX_SAFE_INTEGER : Number(after) || 0;
      const rows = account === undefined ? all.all(before, action, action, size + 1) : forAccount.all(account, account, before, action, action, size + 1);
      return toPage(rows.map(toRecord), size, (r) => String(r.seq));
    },
  };
}
