import { X509Certificate, type KeyObject } from "node:crypto";
import { certificateInstance, fingerprintOf, keyIdOf } from "./keys.js";
import { NO_REVOCATIONS, type Revocations } from "./revocations.js";

/** Why a certificate is not a member's. */
export type CertificateRefusal = "bad_certificate" | "revoked";

export type Admission = { ok: true } | { ok: false; reason: CertificateRefusal; detail: string };

export type Members = ReturnType<typeof createMembers>;

/** The certificates of a PEM bundle. */
export function certificatesOf(pem: Buffer | string): X509Certificate[] {
  const text = pem.toString();
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

/**
 * The federation's members as the CA certifies them (docs/operating/
 * security.md "Membership"): an instance is a member when it presents a
 * certificate that a CA of the federation's bundle issued, that names it
 * (CN = instance id), that is within its validity, and that the revocation
 * list does not name. A member's keys are learned from its signed instance
 * record, and every other record it signs is checked against them.
 */
export function createMembers(opts: { caPem: Buffer | undefined; now?: () => number }) {
  const now = opts.now ?? Date.now;
  /** Without a CA (a daemon with no peer certificate) nobody is a member. */
  let cas = opts.caPem === undefined ? [] : certificatesOf(opts.caPem);
  if (opts.caPem !== undefined && cas.length === 0) throw new Error("the CA file holds no certificate");
  let revocations: Revocations = NO_REVOCATIONS;
  /** Admitted certificates by instance, then by key id (hex). */
  const admitted = new Map<string, Map<string, { key: KeyObject; fingerprint: string; notAfter: number }>>();

  function check(instanceId: string, der: Uint8Array): { ok: true; cert: X509Certificate; fingerprint: string } | { ok: false; reason: CertificateRefusal; detail: string } {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(der);
    } catch {
      return { ok: false, reason: "bad_certificate", detail: "not a certificate" };
    }
    const fingerprint = fingerprintOf(der);
    if (revocations.instances.has(instanceId) || revocations.fingerprints.has(fingerprint)) return { ok: false, reason: "revoked", detail: `${instanceId} is revoked` };
    if (certificateInstance(cert) !== instanceId) return { ok: false, reason: "bad_certificate", detail: `the certificate names ${certificateInstance(cert) ?? "nobody"}, not ${instanceId}` };
    const t = now();
    if (t < Date.parse(cert.validFrom) || t > Date.parse(cert.validTo)) return { ok: false, reason: "bad_certificate", detail: "the certificate is outside its validity" };
    if (!cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey))) return { ok: false, reason: "bad_certificate", detail: "the certificate is not issued by the federation CA" };
    return { ok: true, cert, fingerprint };
  }

  return {
    /** The keys of an instance's certificates that are a member's (or why none is), without taking them. */
    certificateKeys(instanceId: string, certificates: readonly Uint8Array[]): { ok: true; keys: Map<string, KeyObject> } | { ok: false; reason: CertificateRefusal; detail: string } {
      const keys = new Map<string, KeyObject>();
      let refusal: { ok: false; reason: CertificateRefusal; detail: string } = { ok: false, reason: "bad_certificate", detail: "no certificate" };
      for (const der of certificates.slice(0, 4)) {
        const c = check(instanceId, der);
        if (c.ok) keys.set(keyIdOf(der).toString("hex"), c.cert.publicKey);
        else if (refusal.reason !== "revoked") refusal = c;
      }
      return keys.size === 0 ? refusal : { ok: true, keys };
    },
    /**
     * Takes an instance's certificates (from its newest instance record):
     * the valid ones become its keys, replacing what it had; refused when
     * none is.
     */
    admit(instanceId: string, certificates: readonly Uint8Array[]): Admission {
      const keys = new Map<string, { key: KeyObject; fingerprint: string; notAfter: number }>();
      let refusal: Admission = { ok: false, reason: "bad_certificate", detail: "no certificate" };
      for (const der of certificates.slice(0, 4)) {
        const c = check(instanceId, der);
        if (!c.ok) {
          if (refusal.ok === false && refusal.reason !== "revoked") refusal = c;
          continue;
        }
        keys.set(keyIdOf(der).toString("hex"), { key: c.cert.publicKey, fingerprint: c.fingerprint, notAfter: Date.parse(c.cert.validTo) });
      }
      if (keys.size === 0) return refusal;
      admitted.set(instanceId, keys);
      return { ok: true };
    },
    /** The public key of `instanceId`'s certificate `keyId`, while it is a member; undefined otherwise. */
    key(instanceId: string, keyId: Uint8Array): KeyObject | undefined {
      if (revocations.instances.has(instanceId)) return undefined;
      const k = admitted.get(instanceId)?.get(Buffer.from(keyId).toString("hex"));
      if (k === undefined || revocations.fingerprints.has(k.fingerprint) || now() > k.notAfter) return undefined;
      return k.key;
    },
    /** An admitted instance that the revocation list names now. */
    isRevoked(instanceId: string): boolean {
      if (revocations.instances.has(instanceId)) return true;
      const keys = admitted.get(instanceId);
      return keys !== undefined && keys.size > 0 && [...keys.values()].every((k) => revocations.fingerprints.has(k.fingerprint));
    },
    /** A certificate presented on the peer plane: a member's, or why not. */
    checkPeer(instanceId: string, der: Uint8Array): Admission {
      const c = check(instanceId, der);
      return c.ok ? { ok: true } : c;
    },
    known(instanceId: string): boolean {
      return admitted.has(instanceId);
    },
    setRevocations(r: Revocations): void {
      revocations = r;
    },
    setCa(pem: Buffer): void {
      const next = certificatesOf(pem);
      if (next.length > 0) cas = next;
    },
  };
}
