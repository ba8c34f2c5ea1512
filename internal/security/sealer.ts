import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { IotfedError } from "../domain/index.js";

/**
 * Seals DeviceSecrets at rest with AES-256-GCM. A sealed value is
 * `version(1) | nonce(12) | tag(16) | ciphertext`; the additional data binds
 * it to its owner (e.g. `productKey/deviceName`) so that a sealed secret
 * copied onto another row does not open.
 */
export interface Sealer {
  seal(plaintext: string, aad: string): Buffer;
  open(sealed: Buffer, aad: string): string;
}

const VERSION = 1;
const NONCE = 12;
const TAG = 16;

/** A sealed value that does not open, or a key that cannot seal: a fault, never told to a client. */
export class SealError extends IotfedError {
  override readonly name = "SealError";
  readonly code = "INTERNAL";
}

export function createSealer(key: Buffer): Sealer {
  if (key.length !== 32) throw new SealError("the sealing key must be 32 bytes");
  return {
    seal(plaintext, aad) {
      const nonce = randomBytes(NONCE);
      const cipher = createCipheriv("aes-256-gcm", key, nonce);
      cipher.setAAD(Buffer.from(aad));
      const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      return Buffer.concat([Buffer.of(VERSION), nonce, cipher.getAuthTag(), body]);
    },
    open(sealed, aad) {
      if (sealed.length < 1 + NONCE + TAG || sealed[0] !== VERSION) {
        throw new SealError("sealed value has an unknown format");
      }
      const decipher = createDecipheriv("aes-256-gcm", key, sealed.subarray(1, 1 + NONCE));
      decipher.setAAD(Buffer.from(aad));
      decipher.setAuthTag(sealed.subarray(1 + NONCE, 1 + NONCE + TAG));
      try {
        return Buffer.concat([decipher.update(sealed.subarray(1 + NONCE + TAG)), decipher.final()]).toString("utf8");
      } catch (e) {
        throw new SealError("sealed value does not open with this key (wrong key or tampered row)", { cause: e });
      }
    },
  };
}

/** Parses a key given as 64 hex chars or base64 of 32 bytes. */
export function parseSealKey(text: string): Buffer {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, "hex");
  const b = Buffer.from(t, "base64");
  if (b.length === 32 && /^[A-Za-z0-9+/=_-]+$/.test(t)) return b;
  throw new SealError("the sealing key must be 32 bytes, written as 64 hex characters or base64");
}
