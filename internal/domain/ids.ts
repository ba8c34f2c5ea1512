import { randomBytes } from "node:crypto";

const BASE62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/**
 * Uniform random string over an alphabet from the CSPRNG (rejection
 * sampling, so no modulo bias).
 */
export function randomString(length: number, alphabet: string = BASE62): string {
  const limit = 256 - (256 % alphabet.length);
  let out = "";
  while (out.length < length) {
    const bytes = randomBytes(length * 2);
    for (let i = 0; i < bytes.length && out.length < length; i++) {
      const b = bytes[i]!;
      if (b < limit) out += alphabet[b % alphabet.length];
    }
  }
  return out;
}

export const newProductKey = (): string => randomString(11);
export const newDeviceSecret = (): string => randomString(32);
export const newIotId = (): string => randomString(26);
/** Generated DeviceNames: 20 chars of letters and digits (valid per SPEC). */
export const newDeviceName = (): string => randomString(20);
/** Account ids: 16 digits, no leading zero. */
export const newAccountId = (): string => randomString(1, "123456789") + randomString(15, "0123456789");
export const newJobId = (): string => "job_" + randomString(16);
export const newTokenId = (): string => "tok_" + randomString(12);
/** API token value: 43 base62 chars ≈ 256 bits. */
export const newTokenSecret = (): string => "iotfed_" + randomString(43);
