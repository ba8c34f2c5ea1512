import type { DeviceRelease } from "../domain/index.js";
import type { DeviceRelease as DeviceReleaseMessage } from "../gen/iotfed/v1/replication_pb.js";

/*
 * A release proof's wire form (iotfed.v1.DeviceRelease), the same in a
 * replicated device route and in a Handoff's device certificate.
 */

const INSTANCE_RE = /^[A-Za-z0-9-]{2,64}$/;

export function releaseToWire(r: DeviceRelease) {
  return {
    from: r.from,
    generation: BigInt(r.generation),
    keyId: r.keyId,
    rootSignature: r.rootSignature,
    index: r.index,
    leaves: r.leaves,
    path: r.path,
    nearest: r.nearest,
    accountId: r.account,
    ...(r.holderRootSignature === undefined ? {} : { holderKeyId: r.holderKeyId ?? new Uint8Array(), holderRootSignature: r.holderRootSignature }),
  };
}

/** The proof a message holds, or what is wrong with it (a message naming the field under `field`). */
export function releaseFromWire(r: DeviceReleaseMessage, field: string): DeviceRelease | string {
  if (!INSTANCE_RE.test(r.from)) return `${field}.from is not an instance id`;
  if (r.generation < 1n || r.generation >= 2n ** 53n) return `${field}.generation must be at least 1`;
  if (r.keyId.length !== 16) return `${field}.key_id must be 16 bytes`;
  if (r.rootSignature.length === 0 || r.rootSignature.length > 512) return `${field}.root_signature: bad length`;
  if (r.leaves < 1 || r.leaves > 100_000 || r.index >= r.leaves) return `${field}.index must be below ${field}.leaves`;
  if (r.path.length > 20 || !r.path.every((p) => p.length === 32)) return `${field}.path must be at most 20 hashes of 32 bytes`;
  if (r.accountId.length > 64 || r.accountId.includes("\n")) return `${field}.account_id is not an account id`;
  if (r.holderRootSignature.length > 0 && (r.holderKeyId.length !== 16 || r.holderRootSignature.length > 512)) return `${field}.holder_key_id must be 16 bytes`;
  return {
    from: r.from,
    generation: Number(r.generation),
    keyId: r.keyId,
    rootSignature: r.rootSignature,
    index: r.index,
    leaves: r.leaves,
    path: r.path,
    nearest: r.nearest,
    account: r.accountId,
    ...(r.holderRootSignature.length === 0 ? {} : { holderKeyId: r.holderKeyId, holderRootSignature: r.holderRootSignature }),
  };
}
