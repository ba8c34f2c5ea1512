import type { KeyObject } from "node:crypto";
import type { RouteChange } from "../domain/index.js";
import { attested, HOLD_ROOT_CONTEXT, judge, RECORD_CONTEXT, RELEASE_ROOT_CONTEXT, verifySigned, type Members, type OwnershipView, type Refusal, type VerifyItem, type VerifyPool } from "../trust/index.js";
import { openRecord, RecordError, type OpenedRecord } from "./codec.js";

/** A message of the routes stream. */
export interface GateEntry {
  key: string;
  revision: number;
  value: Uint8Array;
}

/** A record that may be applied; `unverified` says why it was taken without proof (rolling upgrade only). */
export interface Admitted {
  revision: number;
  change: RouteChange;
  signer: string | undefined;
  unverified?: Refusal | undefined;
}

/** A record that is not applied. */
export interface Refused {
  key: string;
  revision: number;
  reason: Refusal | "invalid";
  detail: string;
  /** Who signed it (or claims to have written it); "" when unknown. */
  signer: string;
  change?: RouteChange | undefined;
}

export interface GateOptions {
  members: Members;
  verifier: VerifyPool;
  view: OwnershipView & { instanceVersion(instanceId: string): number };
  /** The federation requires signatures (replication.signatures = required). */
  required: () => boolean;
}

export type RecordGate = ReturnType<typeof createRecordGate>;

/** What the previous holder's signature over a release root was found to be, by (signer, key, root). */
const ROOTS_MAX = 100_000;
const EMPTY = new Uint8Array(0);
/** Batches below this size are live traffic, checked on the calling thread. */
const LIVE_BELOW = 64;

/**
 * The check every record from the stream passes before it is applied
 * (docs/operating/security.md "Threat model"): it is well formed, it is
 * signed by a member with a certificate from the federation CA that is not
 * revoked, and its signer owns the fact it states (internal/trust/
 * ownership.ts). Instance records come first, since they carry the keys
 * the rest are checked with; a record signed by a member whose instance
 * record has not arrived yet is handed back (parked) to be checked again
 * when it does.
 */
export function createRecordGate(opts: GateOptions) {
  const { members, verifier, view } = opts;
  const roots = new Map<string, boolean>();
  const keyName = (signer: string, keyId: Uint8Array): string => `${signer}/${Buffer.from(keyId).toString("hex")}`;
  const keyOf = (signer: string, keyId: Uint8Array): KeyObject | undefined => {
    const k = members.key(signer, keyId);
    if (k !== undefined) verifier.addKey(keyName(signer, keyId), k);
    return k;
  };
  const claimedWriter = (c: RouteChange): string => (c.kind === "instance" ? c.route.instanceId : c.kind === "account" ? c.route.home : c.route.committedBy);

  /** Whether `signer` signed a Merkle root (a release, or its acceptance), cached: a whole batch shares one root. */
  function rootSigned(context: Uint8Array, signer: string, keyId: Uint8Array, rootSignature: Uint8Array, rootHex: string): boolean {
    const name = `${context === HOLD_ROOT_CONTEXT ? "hold" : "release"}/${keyName(signer, keyId)}/${rootHex}/${Buffer.from(rootSignature).toString("base64")}`;
    const known = roots.get(name);
    if (known !== undefined) return known;
    const key = members.key(signer, keyId);
    if (key === undefined) return false; // not cached: the key may become known
    const ok = verifySigned(key, context, Buffer.from(rootHex, "hex"), rootSignature);
    if (roots.size >= ROOTS_MAX) roots.clear();
    roots.set(name, ok);
    return ok;
  }

  /** Unsigned: refused once signatures are required, or when its claimed writer is a member that signs. */
  function unsigned(e: GateEntry, o: OpenedRecord): Admitted | Refused {
    const writer = claimedWriter(o.change);
    if (opts.required() || members.known(writer)) {
      return { key: e.key, revision: e.revision, reason: "unsigned", detail: `an unsigned record claiming ${writer || "nobody"}`, signer: writer, change: o.change };
    }
    return { revision: e.revision, change: o.change, signer: undefined, unverified: "unsigned" };
  }

  function checkInstance(e: GateEntry, o: OpenedRecord): Admitted | Refused {
    if (o.change.kind !== "instance") throw new Error("not an instance record");
    const r = o.change.route;
    const s = o.signature;
    if (s === undefined) return unsigned(e, o);
    const refuse = (reason: Refusal, detail: string): Refused => ({ key: e.key, revision: e.revision, reason, detail, signer: s.signer, change: o.change });
    if (s.signer !== r.instanceId) return refuse("not_owner", `instance ${r.instanceId}'s record signed by ${s.signer}`);
    const candidates = members.certificateKeys(r.instanceId, r.certificates);
    if (!candidates.ok) return refuse(candidates.reason, candidates.detail);
    const key = candidates.keys.get(Buffer.from(s.keyId).toString("hex"));
    if (key === undefined) return refuse("unknown_signer", `instance ${r.instanceId}'s record signed with a key its certificates do not hold`);
    if (!verifySigned(key, RECORD_CONTEXT, o.signed, s.signature)) return refuse("bad_signature", `instance ${r.instanceId}'s record`);
    // Its keys from now on, when the record is the newest (an older one changes nothing).
    if (r.version > view.instanceVersion(r.instanceId)) members.admit(r.instanceId, r.certificates);
    return { revision: e.revision, change: o.change, signer: s.signer };
  }

  /** A batch after its signatures were checked, before its ownership is judged. */
  interface Verified {
    entries: readonly GateEntry[];
    opened: (OpenedRecord | undefined)[];
    results: (Admitted | undefined)[];
    refused: Refused[];
    parked: GateEntry[];
    itemOf: number[];
    /** Per item: who signed it (the holder, for a route its release attests). */
    signers: string[];
    ok: Uint8Array;
    roots: (string | undefined)[];
  }

  /**
   * The first half, which may run ahead of applying earlier batches: parse,
   * take instance records (their keys), check every signature (on the
   * verifier's threads) and compute release roots.
   */
  async function verify(entries: readonly GateEntry[]): Promise<Verified> {
    const refused: Refused[] = [];
    const parked: GateEntry[] = [];
    const results: (Admitted | undefined)[] = [];
    const opened: (OpenedRecord | undefined)[] = entries.map((e) => {
      try {
        return openRecord(e.key, e.value);
      } catch (err) {
        if (!(err instanceof RecordError)) throw err;
        refused.push({ key: e.key, revision: e.revision, reason: "invalid", detail: err.message, signer: "" });
        return undefined;
      }
    });
    // Instance records first: they carry the keys.
    opened.forEach((o, i) => {
      if (o?.change.kind !== "instance") return;
      const r = checkInstance(entries[i]!, o);
      if ("reason" in r) refused.push(r);
      else results[i] = r;
    });
    // Then the signatures of the rest, in one pass over the verifier.
    const items: VerifyItem[] = [];
    const itemOf: number[] = [];
    const signers: string[] = [];
    // Live traffic (a small batch): a device route no newer than the one here
    // changes nothing whoever wrote it, and is not checked (a daemon's own
    // routes, and the routes of a job at its source, come back this way).
    // A catch-up goes to the verifier's threads without these lookups.
    const live = entries.length < LIVE_BELOW;
    opened.forEach((o, i) => {
      if (o === undefined || o.change.kind === "instance") return;
      const e = entries[i]!;
      const c = o.change;
      if (live && c.kind === "device" && (view.device(c.route.productKey, c.route.deviceName)?.generation ?? 0) >= c.route.generation) {
        results[i] = { revision: e.revision, change: c, signer: undefined };
        return;
      }
      // A device route its release attests is checked by its two root signatures alone.
      const whole = c.kind === "device" && attested(c.route);
      const s = o.signature;
      if (s === undefined && !whole) {
        const r = unsigned(e, o);
        if ("reason" in r) refused.push(r);
        else results[i] = r;
        return;
      }
      const signer = whole ? (c).route.holder : s!.signer;
      const known = whole ? members.known(signer) && !members.isRevoked(signer) : keyOf(s!.signer, s!.keyId) !== undefined;
      if (!known) {
        if (members.isRevoked(signer)) refused.push({ key: e.key, revision: e.revision, reason: "revoked", detail: `signed by ${signer}, which is revoked`, signer, change: c });
        else if (!members.known(signer)) parked.push(e);
        else refused.push({ key: e.key, revision: e.revision, reason: "unknown_signer", detail: `signed by ${signer} with a key its instance record does not list`, signer, change: c });
        return;
      }
      const rel = c.kind === "device" ? c.route.release : undefined;
      if (c.kind === "device" && rel !== undefined && !members.known(rel.from) && !members.isRevoked(rel.from)) {
        parked.push(e); // the previous holder's keys are not known yet
        return;
      }
      items.push({
        signed: whole ? EMPTY : o.signed,
        signature: whole ? EMPTY : s!.signature,
        key: whole ? "" : keyName(s!.signer, s!.keyId),
        release:
          c.kind === "device" && rel !== undefined
            ? { productKey: c.route.productKey, deviceName: c.route.deviceName, from: rel.from, to: c.route.holder, account: rel.account, generation: rel.generation, nearest: rel.nearest, index: rel.index, leaves: rel.leaves, path: rel.path }
            : undefined,
      });
      itemOf.push(i);
      signers.push(signer);
    });
    const { ok, roots } = await opts.verifier.run(items);
    return { entries, opened, results, refused, parked, itemOf, signers, ok, roots };
  }

  /** The second half, in stream order just before applying: who owns what, against what this daemon has now. */
  function decide(v: Verified): { admitted: Admitted[]; refused: Refused[]; parked: GateEntry[] } {
    const { entries, opened, results, refused } = v;
    v.itemOf.forEach((i, n) => {
      const e = entries[i]!;
      const o = opened[i]!;
      const signer = v.signers[n]!;
      const c = o.change;
      const refuse = (reason: Refusal, detail: string): void => void refused.push({ key: e.key, revision: e.revision, reason, detail, signer, change: c });
      if (v.ok[n] !== 1) return refuse("bad_signature", `signed by ${signer}`);
      let releaseChecked: boolean | undefined;
      if (c.kind === "device" && c.route.release !== undefined) {
        const rel = c.route.release;
        const root = v.roots[n];
        const valid = root !== undefined && root !== "";
        releaseChecked = valid && rootSigned(RELEASE_ROOT_CONTEXT, rel.from, rel.keyId, rel.rootSignature, root);
        if (attested(c.route) && !(valid && rootSigned(HOLD_ROOT_CONTEXT, c.route.holder, rel.holderKeyId!, rel.holderRootSignature!, root))) {
          return refuse("bad_signature", `the acceptance of ${c.route.holder} does not check`);
        }
      }
      const why = judge(c, signer, releaseChecked, view);
      if (why === undefined) results[i] = { revision: e.revision, change: c, signer };
      else if (why === "no_release" && !opts.required()) results[i] = { revision: e.revision, change: c, signer, unverified: why };
      else refuse(why, `${c.kind} record signed by ${signer}`);
    });
    return { admitted: results.filter((r): r is Admitted => r !== undefined), refused, parked: v.parked };
  }

  return {
    verify,
    decide,
    async check(entries: readonly GateEntry[]): Promise<{ admitted: Admitted[]; refused: Refused[]; parked: GateEntry[] }> {
      return decide(await verify(entries));
    },
  };
}
