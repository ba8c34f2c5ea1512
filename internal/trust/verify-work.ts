import { createPublicKey, type KeyObject } from "node:crypto";
import { RECORD_CONTEXT, verifySigned } from "./keys.js";
import { releaseLeaf } from "./release.js";
import { rootFromPath } from "./merkle.js";

/*
 * The CPU-heavy part of checking records, the same on the main thread (a
 * few records) and on the verifier's worker threads (a catch-up): record
 * signatures, and the roots that release proofs lead to.
 */

/** One record to check. */
export interface VerifyItem {
  /** The bytes the record's signature covers. */
  signed: Uint8Array;
  signature: Uint8Array;
  /** Which public key (see VerifyTask.keys). */
  key: string;
  /** A device route's release: the root its proof leads to is computed. */
  release?: { productKey: string; deviceName: string; from: string; to: string; generation: number; index: number; leaves: number; path: Uint8Array[] } | undefined;
}

export interface VerifyTask {
  items: VerifyItem[];
  /** Public keys (SPKI DER) by name, for names the worker has not been given before. */
  keys: [string, Uint8Array][];
}

/** Per item: 1 when its signature checks, else 0; and the release root (hex, "" when malformed) of items that have one. */
export interface VerifyResult {
  ok: Uint8Array;
  roots: (string | undefined)[];
}

export function createVerifyWork() {
  const keys = new Map<string, KeyObject>();
  return {
    addKey(name: string, spki: Uint8Array | KeyObject): void {
      keys.set(name, spki instanceof Uint8Array ? createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" }) : spki);
    },
    run(task: VerifyTask): VerifyResult {
      for (const [name, spki] of task.keys) this.addKey(name, spki);
      const ok = new Uint8Array(task.items.length);
      const roots: (string | undefined)[] = [];
      task.items.forEach((it, i) => {
        const key = keys.get(it.key);
        ok[i] = key !== undefined && verifySigned(key, RECORD_CONTEXT, it.signed, it.signature) ? 1 : 0;
        const r = it.release;
        if (r !== undefined) roots[i] = rootFromPath(releaseLeaf(r.productKey, r.deviceName, r.from, r.to, r.generation), r.index, r.leaves, r.path)?.toString("hex") ?? "";
      });
      return { ok, roots };
    },
  };
}
