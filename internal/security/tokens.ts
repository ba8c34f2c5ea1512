import { createHash, timingSafeEqual } from "node:crypto";

/** Tokens are stored only as their SHA-256; they are long random values, so no salt or stretching is needed. */
export function hashToken(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/** Constant-time comparison of a presented token against a stored hash. */
export function tokenMatches(presented: string, storedHash: Buffer): boolean {
  const h = hashToken(presented);
  return h.length === storedHash.length && timingSafeEqual(h, storedHash);
}

/** Reads `authorization: Bearer <token>`; undefined when absent or malformed. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer ([\x21-\x7e]{16,512})$/.exec(header.trim());
  return m?.[1];
}
