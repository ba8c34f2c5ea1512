import { createPublicKey, type KeyObject } from "node:crypto";
import { RECORD_CONTEXT, verifySigned } from "./keys.js";
import { releaseLeaf } from "./release.js";
import { rootFromPath } from "./merkle.js";

/*
 * The CPU-heavy part of checking records, the same on the main thread (a
 * few records) and on the verifier's worker threads (a catch-up): record
 * signatures, and the roots that release proofs lead to. A batch travels to
 * a worker packed in one transferred buffer, so that no per-record object
 * is cloned (a record's bytes are views into much larger message buffers).
 */

/** One record to check. */
export interface VerifyItem {
  /** The bytes the record's signature covers. */
  signed: Uint8Array;
  signature: Uint8Array;
  /** Which public key (see VerifyPool.addKey). */
  key: string;
  /** A device route's release: the root its proof leads to is computed. */
  release?: { productKey: string; deviceName: string; from: string; to: string; account: string; generation: number; nearest: boolean; index: number; leaves: number; path: Uint8Array[] } | undefined;
}

/** A batch packed for a worker: every byte string in `bytes`, each item's fields in `fields` (FIELDS numbers each). */
export interface PackedTask {
  bytes: ArrayBuffer;
  fields: Uint32Array;
  /** Per item, an index into `names`. */
  keyOf: Uint32Array;
  names: string[];
  /** Public keys (SPKI DER) by name, for names the worker has not been given before. */
  keys: [string, Uint8Array][];
}

/** Per item: signed offset, length; signature offset, length; leaf offset, length (0: no release); path offset, hashes; index; leaves. */
const FIELDS = 10;

export function packTask(items: readonly VerifyItem[], keys: [string, Uint8Array][]): PackedTask {
  const leaves = items.map((it) => (it.release === undefined ? undefined : releaseLeaf(it.release.productKey, it.release.deviceName, it.release.from, it.release.to, it.release.account, it.release.generation, it.release.nearest)));
  let size = 0;
  items.forEach((it, i) => {
    size += it.signed.length + it.signature.length + (leaves[i]?.length ?? 0) + (it.release?.path.length ?? 0) * 32;
  });
  const bytes = new Uint8Array(size);
  const fields = new Uint32Array(items.length * FIELDS);
  const names: string[] = [];
  const nameIndex = new Map<string, number>();
  const keyOf = new Uint32Array(items.length);
  let at = 0;
  const put = (b: Uint8Array): number => {
    bytes.set(b, at);
    at += b.length;
    return at - b.length;
  };
  items.forEach((it, i) => {
    const f = i * FIELDS;
    fields[f] = put(it.signed);
    fields[f + 1] = it.signed.length;
    fields[f + 2] = put(it.signature);
    fields[f + 3] = it.signature.length;
    const leaf = leaves[i];
    if (leaf !== undefined && it.release !== undefined) {
      fields[f + 4] = put(leaf);
      fields[f + 5] = leaf.length;
      fields[f + 6] = at;
      for (const p of it.release.path) put(p);
      fields[f + 7] = it.release.path.length;
      fields[f + 8] = it.release.index;
      fields[f + 9] = it.release.leaves;
    }
    let k = nameIndex.get(it.key);
    if (k === undefined) {
      k = names.push(it.key) - 1;
      nameIndex.set(it.key, k);
    }
    keyOf[i] = k;
  });
  return { bytes: bytes.buffer, fields, keyOf, names, keys };
}

/** Per item: 1 when its signature checks, else 0; and the release root (hex, "" when malformed) of items that have one. */
export interface VerifyResult {
  ok: Uint8Array;
  roots: (string | undefined)[];
}

export function createVerifyWork() {
  const keys = new Map<string, KeyObject>();
  return {
    addKey(name: string, key: Uint8Array | KeyObject): void {
      keys.set(name, key instanceof Uint8Array ? createPublicKey({ key: Buffer.from(key), format: "der", type: "spki" }) : key);
    },
    run(task: PackedTask): VerifyResult {
      for (const [name, spki] of task.keys) this.addKey(name, spki);
      const bytes = Buffer.from(task.bytes);
      const n = task.keyOf.length;
      const ok = new Uint8Array(n);
      const roots: (string | undefined)[] = [];
      const f = task.fields;
      for (let i = 0; i < n; i++) {
        const b = i * FIELDS;
        const key = keys.get(task.names[task.keyOf[i]!]!);
        const signed = bytes.subarray(f[b], f[b]! + f[b + 1]!);
        const signature = bytes.subarray(f[b + 2], f[b + 2]! + f[b + 3]!);
        // No signature: a route its release attests (the gate sends no other unsigned record).
        ok[i] = signature.length === 0 || (key !== undefined && verifySigned(key, RECORD_CONTEXT, signed, signature)) ? 1 : 0;
        if (f[b + 5]! > 0) {
          const leaf = bytes.subarray(f[b + 4], f[b + 4]! + f[b + 5]!);
          const path = Array.from({ length: f[b + 7]! }, (_, j) => bytes.subarray(f[b + 6]! + 32 * j, f[b + 6]! + 32 * (j + 1)));
          roots[i] = rootFromPath(leaf, f[b + 8]!, f[b + 9]!, path)?.toString("hex") ?? "";
        }
      }
      return { ok, roots };
    },
  };
}
