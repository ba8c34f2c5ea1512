import { createHash, createPrivateKey, sign, verify, X509Certificate, type KeyObject } from "node:crypto";
import { statSync } from "node:fs";

/*
 * What a daemon signs with, and how a signature is checked (docs/operating/
 * security.md "Threat model"). A daemon signs with the key of its peer
 * certificate, which the federation CA issued to its instance id; the
 * certificates themselves travel in the signer's instance record.
 *
 * Every signature covers a context string followed by the bytes it is
 * about, so a signature made for one purpose can never be presented for
 * another.
 */

/** A replicated record's bytes (see RouteRecord in proto/iotfed/v1/replication.proto). */
export const RECORD_CONTEXT = Buffer.from("iotfed/record/v1\n");
/** The root of a batch of device releases (DeviceRelease), signed by the previous holder. */
export const RELEASE_ROOT_CONTEXT = Buffer.from("iotfed/release-root/v1\n");
/** The same root, signed by the holder that took the devices. */
export const HOLD_ROOT_CONTEXT = Buffer.from("iotfed/hold-root/v1\n");

/** The first 16 bytes of the SHA-256 of a certificate's DER: which certificate made a signature. */
export function keyIdOf(certificateDer: Uint8Array): Buffer {
  return createHash("sha256").update(certificateDer).digest().subarray(0, 16);
}

/** The SHA-256 of a certificate's DER, in hex: how a revocation list names a certificate. */
export function fingerprintOf(certificateDer: Uint8Array): string {
  return createHash("sha256").update(certificateDer).digest("hex");
}

/** ECDSA signatures in the fixed-size IEEE P1363 form; Ed25519 and RSA have one form. */
const form = (key: KeyObject): { dsaEncoding?: "ieee-p1363" } => (key.asymmetricKeyType === "ec" ? { dsaEncoding: "ieee-p1363" } : {});
const digestOf = (key: KeyObject): string | null => (key.asymmetricKeyType === "ed25519" || key.asymmetricKeyType === "ed448" ? null : "sha256");

/** Checks `signature` over `context` + `data` with a public key. */
export function verifySigned(key: KeyObject, context: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify(digestOf(key), Buffer.concat([context, data]), { key, ...form(key) }, signature);
  } catch {
    return false;
  }
}

/** This daemon's signing identity. */
export interface SigningKey {
  readonly instanceId: string;
  /** Its certificate (DER), published in its instance record. */
  readonly certificate: Buffer;
  readonly keyId: Buffer;
  sign(context: Uint8Array, data: Uint8Array): Buffer;
}

/** The instance id a certificate names (its subject CN), if it names one. */
export function certificateInstance(cert: X509Certificate): string | undefined {
  for (const part of cert.subject.split("\n")) {
    if (part.startsWith("CN=")) return part.slice(3);
  }
  return undefined;
}

/**
 * The signing key of `instanceId` from its peer certificate and key (PEM).
 * Refuses a certificate that names another instance, or a key that is not
 * the certificate's.
 */
export function signingKeyFrom(instanceId: string, certPem: Buffer, keyPem: Buffer): SigningKey {
  const cert = new X509Certificate(certPem);
  const name = certificateInstance(cert);
  if (name !== instanceId) throw new Error(`the peer certificate names ${name ?? "nobody"}, not this instance (${instanceId})`);
  const key = createPrivateKey(keyPem);
  if (!cert.checkPrivateKey(key)) throw new Error("the peer key is not the key of the peer certificate");
  const der = cert.raw;
  return {
    instanceId,
    certificate: der,
    keyId: keyIdOf(der),
    sign: (context, data) => sign(digestOf(key), Buffer.concat([context, data]), { key, ...form(key) }),
  };
}

/** A key or secret file that others may read (or its owner shares with its group). */
export class KeyFileModeError extends Error {
  override readonly name = "KeyFileModeError";
}

/**
 * Refuses a private key or secret file that is too open, as ssh does: any
 * access by others, group write, or group read of a file this process owns.
 * A file owned by another user and readable by this process's group only
 * (a secret mounted root-owned with fsGroup, as Kubernetes does) is fine.
 */
export function assertPrivateFile(path: string): void {
  const st = statSync(path);
  const mode = st.mode & 0o777;
  const own = typeof process.getuid === "function" && st.uid === process.getuid();
  if ((mode & 0o007) !== 0 || (mode & 0o020) !== 0 || (own && (mode & 0o070) !== 0)) {
    throw new KeyFileModeError(`${path} is open to ${(mode & 0o007) !== 0 ? "others" : "its group"} (mode 0${mode.toString(8)}); make it 0600 (chmod 600 ${path})`);
  }
}
