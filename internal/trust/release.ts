import type { DeviceRelease, DeviceRoute } from "../domain/index.js";
import { HOLD_ROOT_CONTEXT, RELEASE_ROOT_CONTEXT, type SigningKey } from "./keys.js";
import { merkleTree, rootFromPath } from "./merkle.js";

/*
 * Device releases (docs/operating/security.md "Signed records"): when a
 * source confirms a handoff (ARCHITECTURE.md "The handoff", step 5) it
 * signs, once for the batch, the root of a Merkle tree whose leaves say
 * "`from` released `productKey`/`deviceName` to `to`, into account
 * `account` there, at `generation` (nearest-placed or not)". The receiver checks it, signs the same root
 * (its acceptance), and keeps each device's leaf path in the device's
 * route: proof, for every daemon that applies the route, that the previous
 * holder let the device go to this holder and that the holder took it.
 */

export interface ReleasedDevice {
  deviceName: string;
  generation: number;
}

/** What a batch of releases says besides each device and generation. */
export interface ReleaseBatch {
  productKey: string;
  /** The instance the devices go to, and the account they belong to there. */
  to: string;
  account: string;
  nearest: boolean;
}

/** One leaf: its fields one per line (none of them can hold a line break). */
export function releaseLeaf(productKey: string, deviceName: string, from: string, to: string, account: string, generation: number, nearest: boolean): Buffer {
  return Buffer.from(`release\n${productKey}\n${deviceName}\n${from}\n${to}\n${account}\n${generation}\n${nearest ? 1 : 0}`);
}

const leavesOf = (from: string, b: ReleaseBatch, devices: readonly ReleasedDevice[]): Buffer[] =>
  devices.map((d) => releaseLeaf(b.productKey, d.deviceName, from, b.to, b.account, d.generation, b.nearest));

/** The source's side: the signature over the root of these releases, in this order. */
export function signReleases(key: SigningKey, batch: ReleaseBatch, devices: readonly ReleasedDevice[]): { keyId: Buffer; rootSignature: Buffer } {
  const { root } = merkleTree(leavesOf(key.instanceId, batch, devices));
  return { keyId: key.keyId, rootSignature: key.sign(RELEASE_ROOT_CONTEXT, root) };
}

/**
 * The receiver's side: the root of the releases `from` made to `to` (to
 * check the signature against) and each device's proof, in order; with
 * `holder`, the receiver's key, the proofs carry its acceptance too.
 */
export function releaseProofs(
  from: string,
  batch: ReleaseBatch,
  devices: readonly ReleasedDevice[],
  signature: { keyId: Uint8Array; rootSignature: Uint8Array },
  holder?: SigningKey,
): { root: Buffer; proofs: DeviceRelease[] } {
  const { root, paths } = merkleTree(leavesOf(from, batch, devices));
  const { nearest, account } = batch;
  const acceptance = holder === undefined ? {} : { holderKeyId: holder.keyId, holderRootSignature: holder.sign(HOLD_ROOT_CONTEXT, root) };
  return {
    root,
    proofs: devices.map((d, i) => ({ from, generation: d.generation, keyId: signature.keyId, rootSignature: signature.rootSignature, index: i, leaves: devices.length, path: paths[i]!, nearest, account, ...acceptance })),
  };
}

/** The root a route's release proof leads to, or undefined when its path is malformed. */
export function releaseRoot(productKey: string, deviceName: string, holder: string, r: DeviceRelease): Buffer | undefined {
  return rootFromPath(releaseLeaf(productKey, deviceName, r.from, holder, r.account, r.generation, r.nearest), r.index, r.leaves, r.path);
}

/**
 * A route that its release attests whole: the holder accepted the batch and
 * the route is still what the leaf states. Such a record needs no signature
 * of its own.
 */
export function attested(r: DeviceRoute): boolean {
  const rel = r.release;
  return rel !== undefined && rel.holderRootSignature !== undefined && rel.holderRootSignature.length > 0 && rel.generation === r.generation && rel.nearest === r.nearest;
}
