import { readFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { ConfigurationError } from "../domain/index.js";
import { assertPrivateFile, KeyFileModeError } from "../trust/index.js";

/** Refuses (naming configuration `key`) a key or secret file others may read (docs/operating/security.md "Files"). */
export function checkPrivateFile(file: string, key: string): void {
  try {
    assertPrivateFile(file);
  } catch (e) {
    if (e instanceof KeyFileModeError) throw new ConfigurationError(key, e.message, { cause: e });
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return; // its loader says it cannot be read
    throw new ConfigurationError(key, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
}

/** A TLS certificate chain and key named by configuration `key`. */
export function readTls(files: { certFile: string; keyFile: string }, key: string): { cert: Buffer; key: Buffer } {
  checkPrivateFile(files.keyFile, `${key}.keyFile`);
  try {
    return { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
  } catch (e) {
    throw new ConfigurationError(key, `cannot read TLS files: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
}

/** A one-line secret file named by configuration `key` (trimmed); refused when others may read it. */
export function readSecretFile(file: string, key: string): string {
  checkPrivateFile(file, key);
  try {
    return readFileSync(file, "utf8").trim();
  } catch (e) {
    throw new ConfigurationError(key, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
}

/** The expiry (ms since the epoch) of the first certificate in a PEM file. */
export function certificateNotAfter(file: string): number | undefined {
  try {
    const t = Date.parse(new X509Certificate(readFileSync(file)).validTo);
    return Number.isFinite(t) ? t : undefined;
  } catch {
    return undefined;
  }
}
