import type { OwnerSignature, ProductBundle } from "../domain/index.js";
import { verifySigned, type SigningKey } from "./keys.js";
import type { CertificateRefusal, Members } from "./members.js";

/** Domain separation: a bundle signature is never a record's or a release's. */
export const BUNDLE_CONTEXT = Buffer.from("iotfed/product-bundle/v1\n");

/**
 * What the owner signs of a product bundle: every field a copy is made
 * from, in a fixed order, topic classes sorted by name (a forwarder rebuilds
 * the bundle from its store, in its own order). Not the account: a copy's
 * account is the receiving one, proven by its owner's route, the devices'
 * releases or a redeemed code (R4).
 */
export function bundleSigningInput(b: ProductBundle): Buffer {
  const topics = [...b.topics].sort((x, y) => (x.shortName < y.shortName ? -1 : x.shortName > y.shortName ? 1 : 0)).map((t) => [t.shortName, t.operation, t.description]);
  return Buffer.from(
    JSON.stringify([
      b.productKey,
      b.ownerInstanceId,
      b.version,
      b.productName,
      b.nodeType,
      b.dataFormat,
      b.authType,
      b.status,
      b.description,
      b.candidates,
      topics,
      b.thingModel,
      b.script?.scriptType ?? "",
      b.script?.content ?? "",
    ]),
  );
}

/** The owner's signature of its own bundle (the daemon that owns the product signs as it sends). */
export function signBundle(key: SigningKey, b: ProductBundle): OwnerSignature {
  if (key.instanceId !== b.ownerInstanceId) throw new Error(`${key.instanceId} does not own product ${b.productKey}; only its owner ${b.ownerInstanceId} signs its bundle`);
  return { certificate: key.certificate, signature: key.sign(BUNDLE_CONTEXT, bundleSigningInput(b)) };
}

export type BundleRefusal = "unsigned" | "bad_signature" | CertificateRefusal;

/**
 * Whether `b` is as its owner signed it: the signature is made with the key
 * of a certificate that the federation CA issued to the bundle's owner and
 * that is not revoked. A forwarder relays the owner's signature unchanged;
 * any field it changed breaks it.
 */
export function checkBundle(members: Members, b: ProductBundle): { ok: true } | { ok: false; reason: BundleRefusal; detail: string } {
  const s = b.ownerSignature;
  if (s === undefined) return { ok: false, reason: "unsigned", detail: `the bundle of product ${b.productKey} carries no signature of its owner ${b.ownerInstanceId}` };
  const keys = members.certificateKeys(b.ownerInstanceId, [s.certificate]);
  if (!keys.ok) return { ok: false, reason: keys.reason, detail: `the bundle of product ${b.productKey} is signed with a certificate that is not its owner's: ${keys.detail}` };
  const input = bundleSigningInput(b);
  for (const key of keys.keys.values()) if (verifySigned(key, BUNDLE_CONTEXT, input, s.signature)) return { ok: true };
  return { ok: false, reason: "bad_signature", detail: `the bundle of product ${b.productKey} is not as its owner ${b.ownerInstanceId} signed it (version ${b.version})` };
}
