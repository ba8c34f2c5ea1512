import { readFileSync } from "node:fs";

/**
 * A revocation list (docs/operating/security.md "Membership"): the members
 * the federation no longer trusts, by instance id (every certificate of it)
 * or by certificate (the SHA-256 of its DER, in hex, as
 * `openssl x509 -noout -fingerprint -sha256` prints it, colons allowed).
 * One entry per line: `instance <id>` or `sha256 <fingerprint>`; `#` starts
 * a comment. Operators distribute the same file to every daemon, as they
 * would a CRL; each daemon reloads it when it changes or on SIGHUP.
 */
export interface Revocations {
  readonly instances: ReadonlySet<string>;
  readonly fingerprints: ReadonlySet<string>;
}

export const NO_REVOCATIONS: Revocations = { instances: new Set(), fingerprints: new Set() };

/** A line of a revocation list that cannot be read. */
export class RevocationListError extends Error {
  override readonly name = "RevocationListError";
}

export function parseRevocations(text: string, source: string): Revocations {
  const instances = new Set<string>();
  const fingerprints = new Set<string>();
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") return;
    const [what, value, extra] = line.split(/\s+/);
    if (value === undefined || extra !== undefined) throw new RevocationListError(`${source}:${i + 1}: expected "instance <id>" or "sha256 <fingerprint>"`);
    if (what === "instance") instances.add(value);
    else if (what === "sha256") {
      const hex = value.replaceAll(":", "").toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(hex)) throw new RevocationListError(`${source}:${i + 1}: a SHA-256 fingerprint is 64 hex digits`);
      fingerprints.add(hex);
    } else throw new RevocationListError(`${source}:${i + 1}: unknown entry "${what}" (instance or sha256)`);
  });
  return { instances, fingerprints };
}

export function readRevocations(path: string): Revocations {
  return parseRevocations(readFileSync(path, "utf8"), path);
}
