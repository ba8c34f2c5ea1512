import type { DeviceRelease } from "../domain/index.js";
import { RELEASE_ROOT_CONTEXT, type SigningKey } from "./keys.js";
import { merkleTree, rootFromPath } from "./merkle.js";

/*
 * Device releases (docs/operating/security.md "Threat model"): when a
 * source confirms a handoff (ARCHITECTURE.md "The handoff", step 5) it
 * signs, once for the batch, the root of a Merkle tree whose leaves say
 * "`from` released `productKey`/`deviceName` to `to` at `generation`". The
 * receiver keeps each device's leaf path in the device's route: proof, for
 * every daemon that applies the route, that the previous holder let the
 * device go to this holder.
 */

export interface ReleasedDevice {
  deviceName: string;
  generation: number;
}

/** One leaf: its fields one per line (none of them can hold a line break). */
export function releaseLeaf(productKey: string, deviceName: string, from: string, to: string, generation: number): Buffer {
  return Buffer.from(`release\n${productKey}\n${deviceName}\n${from}\n${to}\n${generation}`);
}

const leavesOf = (productKey: string, from: string, to: string, devices: readonly ReleasedDevice[]): Buffer[] =>
  devices.map((d) => releaseLeaf(productKey, d.deviceName, from, to, d.generation));

/** The source's side: the signature over the root of these releases, in this order. */
export function signReleases(key: SigningKey, to: string, productKey: string, devices: readonly ReleasedDevice[]): { keyId: Buffer; rootSignature: Buffer } {
  const { root } = merkleTree(leavesOf(productKey, key.instanceId, to, devices));
  return { keyId: key.keyId, rootSignature: key.sign(RELEASE_ROOT_CONTEXT, root) };
}

/**
 * The receiver's side: the root of the releases `from` made to `to` (to
 * check the signature against) and each device's proof, in order.
 */
export function releaseProofs(
  productKey: string,
  from: string,
  to: string,
  devices: readonly ReleasedDevice[],
  signature: { keyId: Uint8Array; rootSignature: Uint8Array },
): { root: Buffer; proofs: DeviceRelease[] } {
  const { root, paths } = merkleTree(leavesOf(productKey, from, to, devices));
  return {
    root,
    proofs: devices.map((d, i) => ({ from, generation: d.generation, keyId: signature.keyId, rootSignature: signature.rootSignature, index: i, leaves: devices.length, path: paths[i]! })),
  };
}

/** The root a route's release proof leads to, or undefined when its path is malformed. */
export function releaseRoot(productKey: string, deviceName: string, holder: string, r: DeviceRelease): Buffer | undefined {
  return rootFromPath(releaseLeaf(productKey, deviceName, r.from, holder, r.generation), r.index, r.leaves, r.path);
}
