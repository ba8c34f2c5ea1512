import type { Db } from "./db.js";
import {
  AUTH_CODE_MAX_TRIES,
  AUTH_CODE_TTL_MS,
  ResourceExhaustedError,
  RuleViolationError,
  authCodeMatches,
  newAuthCode,
  newAuthCodeId,
} from "../domain/index.js";
import type { Sealer } from "../security/index.js";
import { decodePageToken, toPage, type Page } from "./paging.js";

export type AuthCodeState = "live" | "used" | "expired" | "void" | "replaced";

export interface AuthCodeRecord {
  codeId: string;
  /** The six digits, only while the code is usable; empty otherwise. */
  code: string;
  requesterAccountId: string;
  requesterAccountName: string;
  requesterPeer: string;
  targetAccountId: string;
  state: AuthCodeState;
  failedTries: number;
  issuedAt: number;
  expiresAt: number;
  usedJob: string;
}

interface Row {
  rid: number;
  code_id: string;
  requester_account: string;
  requester_name: string;
  requester_peer: string;
  target_account: string;
  code_sealed: Buffer;
  state: AuthCodeState;
  failed_tries: number;
  issued_at: number;
  expires_at: number;
  used_job: string;
  used_product: string;
}

/** What a redemption attempt did; the attempt is recorded even when it is refused. */
export type RedeemOutcome =
  | { ok: true; codeId: string; again: boolean }
  | { ok: false; codeId: string; reason: "none" | "expired" | "used" | "void" | "wrong" | "replaced"; triesLeft: number; message: string };

export type AuthCodesRepo = ReturnType<typeof createAuthCodesRepo>;

const aad = (codeId: string): string => `authcode/${codeId}`;

/**
 * Authorization codes at the target's daemon (R4). The code is sealed at
 * rest like a DeviceSecret, compared in constant time, valid five minutes,
 * used once (bound to one job of one source daemon), and void after five
 * wrong tries. A new code for the same (requester, target) pair replaces the
 * live one, and issuing is rate-limited per pair, so guessing gains nothing
 * from asking again.
 */
export function createAuthCodesRepo(opts: { db: Db; sealer: Sealer; now?: () => number; maxPerHour?: number }) {
  const { db, sealer } = opts;
  const now = opts.now ?? Date.now;
  const maxPerHour = opts.maxPerHour ?? 10;
  const cols = "rowid AS rid, *";
  const countRecent = db.prepare<[string, string, number], { n: number }>(
    "SELECT count(*) AS n FROM auth_codes WHERE requester_account = ? AND target_account = ? AND issued_at > ?",
  );
  const replaceLive = db.prepare("UPDATE auth_codes SET state = 'replaced' WHERE requester_account = ? AND target_account = ? AND state = 'live'");
  const insert = db.prepare(
    `INSERT INTO auth_codes(code_id, requester_account, requester_name, requester_peer, target_account, code_sealed, state, issued_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, 'live', ?, ?)`,
  );
  const latestOfPair = db.prepare<[string, string], Row>(
    `SELECT ${cols} FROM auth_codes WHERE requester_account = ? AND target_account = ? ORDER BY issued_at DESC, rowid DESC LIMIT 1`,
  );
  const setState = db.prepare("UPDATE auth_codes SET state = ? WHERE code_id = ?");
  const addTry = db.prepare("UPDATE auth_codes SET failed_tries = failed_tries + 1, state = CASE WHEN failed_tries + 1 >= ? THEN 'void' ELSE state END WHERE code_id = ?");
  const use = db.prepare("UPDATE auth_codes SET state = 'used', used_job = ?, used_product = ?, used_at = ? WHERE code_id = ? AND state = 'live'");
  const byJob = db.prepare<[string], Row>(`SELECT ${cols} FROM auth_codes WHERE used_job = ?`);
  const listForTarget = db.prepare<[string, number, number], Row>(
    `SELECT ${cols} FROM auth_codes WHERE target_account = ? AND rowid < ? ORDER BY rowid DESC LIMIT ?`,
  );

  const toRecord = (r: Row, t: number): AuthCodeRecord => {
    const state: AuthCodeState = r.state === "live" && t > r.expires_at ? "expired" : r.state;
    return {
      codeId: r.code_id,
      code: state === "live" ? sealer.open(r.code_sealed, aad(r.code_id)) : "",
      requesterAccountId: r.requester_account,
      requesterAccountName: r.requester_name,
      requesterPeer: r.requester_peer,
      targetAccountId: r.target_account,
      state,
      failedTries: r.failed_tries,
      issuedAt: r.issued_at,
      expiresAt: r.expires_at,
      usedJob: r.used_job,
    };
  };

  return {
    /** Issues a code to `targetAccount` for a distribution from `requesterAccount` (via `requesterPeer`). */
    issue(req: { requesterAccount: string; requesterName: string; requesterPeer: string; targetAccount: string }): { codeId: string; code: string; expiresAt: number } {
      const t = now();
      return db.transaction(() => {
        const recent = countRecent.get(req.requesterAccount, req.targetAccount, t - 3600_000)!.n;
        if (recent >= maxPerHour) {
          throw new ResourceExhaustedError(
            `R4: account ${req.requesterAccount} asked for ${recent} codes for account ${req.targetAccount} in the last hour (at most ${maxPerHour}); ask the target account for the code already issued`,
            { field: "target_account_id", rule: "R4" },
          );
        }
        replaceLive.run(req.requesterAccount, req.targetAccount);
        const codeId = newAuthCodeId();
        const code = newAuthCode();
        const expiresAt = t + AUTH_CODE_TTL_MS;
        insert.run(codeId, req.requesterAccount, req.requesterName, req.requesterPeer, req.targetAccount, sealer.seal(code, aad(codeId)), t, expiresAt);
        return { codeId, code, expiresAt };
      })();
    },

    /**
     * Verifies `code` for the pair's latest code and, when it matches, binds
     * it to `jobId` of `callerPeer` (R4: used once). The same job presenting
     * the same code again (a retried call) gets the same answer.
     */
    redeem(req: { code: string; requesterAccount: string; targetAccount: string; jobId: string; productKey: string; callerPeer: string }): RedeemOutcome {
      const t = now();
      return db.transaction((): RedeemOutcome => {
        const r = latestOfPair.get(req.requesterAccount, req.targetAccount);
        const refuse = (codeId: string, reason: Exclude<RedeemOutcome, { ok: true }>["reason"], message: string, triesLeft = 0): RedeemOutcome => ({ ok: false, codeId, reason, triesLeft, message });
        if (r === undefined) {
          return refuse("", "none", `no authorization code was issued to account ${req.targetAccount} for account ${req.requesterAccount}: ask for one`);
        }
        const matches = authCodeMatches(req.code, sealer.open(r.code_sealed, aad(r.code_id)));
        if (r.state === "used") {
          if (matches && r.used_job === req.jobId && r.requester_peer === req.callerPeer) return { ok: true, codeId: r.code_id, again: true };
          return refuse(r.code_id, "used", `the authorization code was already used (job ${r.used_job}); ask for a new one`);
        }
        if (r.state === "void") return refuse(r.code_id, "void", `the authorization code is void after ${AUTH_CODE_MAX_TRIES} wrong tries; ask for a new one`);
        if (r.state === "replaced") return refuse(r.code_id, "replaced", "the authorization code was replaced by a newer one");
        if (r.state === "expired" || t > r.expires_at) {
          setState.run("expired", r.code_id);
          return refuse(r.code_id, "expired", `the authorization code expired at ${new Date(r.expires_at).toISOString()} (valid ${AUTH_CODE_TTL_MS / 60000} minutes); ask for a new one`);
        }
        if (r.requester_peer !== req.callerPeer) {
          return refuse(r.code_id, "none", `no authorization code was issued to account ${req.targetAccount} for account ${req.requesterAccount} at ${req.callerPeer}: ask for one there`);
        }
        if (!matches) {
          addTry.run(AUTH_CODE_MAX_TRIES, r.code_id);
          const left = Math.max(0, AUTH_CODE_MAX_TRIES - (r.failed_tries + 1));
          return refuse(
            r.code_id,
            left === 0 ? "void" : "wrong",
            left === 0 ? `wrong authorization code; it is now void after ${AUTH_CODE_MAX_TRIES} wrong tries: ask for a new one` : `wrong authorization code (${left} tries left)`,
            left,
          );
        }
        use.run(req.jobId, req.productKey, t, r.code_id);
        return { ok: true, codeId: r.code_id, again: false };
      })();
    },

    /** R4 at the handoff: the code bound to `jobId` came from `callerPeer` for this pair and product. */
    redeemedFor(jobId: string, callerPeer: string, requesterAccount: string, targetAccount: string, productKey: string): boolean {
      const r = byJob.get(jobId);
      return (
        r !== undefined &&
        r.state === "used" &&
        r.requester_peer === callerPeer &&
        r.requester_account === requesterAccount &&
        r.target_account === targetAccount &&
        r.used_product === productKey
      );
    },

    /** Codes issued to `targetAccount` here, newest first; a code's digits only while it is usable. */
    list(targetAccount: string, size: number, pageToken: string): Page<AuthCodeRecord> {
      const after = decodePageToken(pageToken);
      const before = after === undefined ? Number.MAX_SAFE_INTEGER : Number(after);
      const rows = listForTarget.all(targetAccount, Number.isFinite(before) ? before : 0, size + 1);
      const t = now();
      const page = toPage(rows, size, (r) => String(r.rid));
      return { items: page.items.map((r) => toRecord(r, t)), nextPageToken: page.nextPageToken };
    },
  };
}

/** The error a refused redemption answers with (R4); never holds the code. */
export function redeemRefusal(o: Exclude<RedeemOutcome, { ok: true }>): RuleViolationError {
  return new RuleViolationError("R4", o.message, { field: "auth_code" });
}
