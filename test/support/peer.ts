import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ProductBundleSchema } from "../../internal/gen/iotfed/v1/peer_pb.js";
import { createPeerClients, loadPeerTls, type PeerClient } from "../../internal/peer/index.js";
import { bundleFromWire } from "../../internal/peer/convert.js";
import { create } from "@bufbuild/protobuf";
import { ProductBundleSchema as WireBundleSchema } from "../../internal/gen/iotfed/v1/peer_pb.js";
import { signBundle, signingKeyFrom, type SigningKey } from "../../internal/trust/index.js";
import type { FederationMember } from "./daemon.js";

/** The signing key of a member whose certificate startFederation made in `certDir` (what that daemon, or a thief of its key, signs with). */
export function signingKeyOf(certDir: string, id: string): SigningKey {
  return signingKeyFrom(id, readFileSync(join(certDir, `${id}.crt`)), readFileSync(join(certDir, `${id}.key`)));
}

/**
 * A peer-plane client that presents `as`'s own certificate (made by
 * startFederation in `certDir`) and calls `to`: what that daemon, or one
 * that stole its key, can send.
 */
export function peerClientAs(certDir: string, as: Pick<FederationMember, "id">, to: Pick<FederationMember, "id" | "peerAddress">, callTimeoutMs = 10000): PeerClient {
  const tls = loadPeerTls({ caFile: join(certDir, "ca.crt"), certFile: join(certDir, `${as.id}.crt`), keyFile: join(certDir, `${as.id}.key`) });
  return createPeerClients([{ id: to.id, address: to.peerAddress }], tls, callTimeoutMs).get(to.id)!;
}

/** A product bundle as the peer plane carries it, with every field a test does not care about filled in. */
export function wireBundle<F extends Omit<MessageInitShape<typeof ProductBundleSchema>, "$typeName"> & { productKey: string; accountId: string; ownerInstanceId: string }>(fields: F) {
  return {
    accountName: "test-account",
    productName: "Test product",
    nodeType: "device",
    dataFormat: "alink-json",
    authType: "device-secret",
    status: "developing",
    version: 1n,
    thingModel: '{"properties":[],"events":[],"services":[]}',
    ...fields,
  };
}

/**
 * A wire bundle signed with `signer`'s key as its owner signs (the genuine
 * signature when `signer` is the bundle's owner; what a thief of that key
 * could make otherwise). Fields changed after signing break it.
 */
export function signedWireBundle<B extends ReturnType<typeof wireBundle>>(bundle: B, signer: SigningKey): B & { ownerCertificate: Uint8Array; ownerSignature: Uint8Array } {
  const s = signBundle(signer, { ...bundleFromWire(create(WireBundleSchema, bundle)), ownerInstanceId: signer.instanceId });
  return { ...bundle, ownerCertificate: s.certificate, ownerSignature: s.signature };
}
