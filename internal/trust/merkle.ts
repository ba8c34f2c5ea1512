import { createHash } from "node:crypto";

/*
 * A Merkle tree as in RFC 9162 (Certificate Transparency 2.0) section 2.1:
 * leaf hash SHA-256(0x00 || leaf), node hash SHA-256(0x01 || left || right),
 * the left subtree holding the largest power of two below the leaf count.
 * One signature over the root covers every leaf; each leaf is proven by its
 * audit path (about log2(n) hashes).
 */

const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

export function leafHash(leaf: Uint8Array): Buffer {
  return createHash("sha256").update(LEAF).update(leaf).digest();
}
function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash("sha256").update(NODE).update(left).update(right).digest();
}
const largestPowerOfTwoBelow = (n: number): number => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};

/** The root of `leaves` and each leaf's audit path (sibling hashes from the leaf up). */
export function merkleTree(leaves: readonly Uint8Array[]): { root: Buffer; paths: Buffer[][] } {
  if (leaves.length === 0) throw new Error("a Merkle tree needs at least one leaf");
  const paths: Buffer[][] = leaves.map(() => []);
  const build = (lo: number, hi: number): Buffer => {
    if (hi - lo === 1) return leafHash(leaves[lo]!);
    const k = largestPowerOfTwoBelow(hi - lo);
    const left = build(lo, lo + k);
    const right = build(lo + k, hi);
    for (let i = lo; i < lo + k; i++) paths[i]!.push(right);
    for (let i = lo + k; i < hi; i++) paths[i]!.push(left);
    return nodeHash(left, right);
  };
  return { root: build(0, leaves.length), paths };
}

/**
 * The root that leaf number `index` of a tree of `size` leaves and its audit
 * path lead to (RFC 9162 2.1.3.2); undefined when the path cannot belong to
 * such a tree.
 */
export function rootFromPath(leaf: Uint8Array, index: number, size: number, path: readonly Uint8Array[]): Buffer | undefined {
  if (!Number.isInteger(index) || !Number.isInteger(size) || index < 0 || index >= size || path.length > 64) return undefined;
  let fn = index;
  let sn = size - 1;
  let r = leafHash(leaf);
  for (const p of path) {
    if (p.length !== 32 || sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else r = nodeHash(r, p);
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : undefined;
}
