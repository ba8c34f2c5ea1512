import type { KV } from "@nats-io/kv";
import { recordOrder, type RouteChange } from "../domain/index.js";
import type { SigningKey } from "../trust/index.js";
import { decodeRecord, keyOf, sealRecord } from "./codec.js";
import { isWrongLastSequence } from "./nats-errors.js";

/**
 * Writes records, signed with this daemon's key, into the bucket so that a
 * key only ever moves forward: a record replaces the stored one only when
 * its generation (or version) is higher — or when the stored one is not its
 * owner's — checked with compare-and-set against the revision read.
 */
export function createRecordPublisher(
  self: string,
  signingKey: SigningKey | undefined,
  /**
   * Whether a record found in the bucket is its owner's. One that is not
   * (unsigned, forged, contradicted) does not hold back ours, whatever its
   * generation: the owner writes over it.
   */
  trusted: (key: string, value: Uint8Array, revision: number) => Promise<boolean> = () => Promise.resolve(true),
) {
  /**
   * Revisions this publisher last wrote, by key (bounded): the next write of
   * the same key can be a single compare-and-set instead of a read and a write.
   */
  const written = new Map<string, number>();
  const WRITTEN_MAX = 100_000;

  /**
   * Publishes one route over an older one; "superseded" when the bucket
   * already holds one as new or newer. Optimistic first: a first generation
   * is created (the key should not exist yet), a key written before is
   * updated at the revision we wrote; only when that loses does it read the
   * key and compare generations.
   */
  return async function publish(kv: KV, c: RouteChange): Promise<"published" | "superseded"> {
    const key = keyOf(c);
    const bytes = sealRecord(c, self, signingKey);
    const remember = (rev: number): void => {
      if (written.size >= WRITTEN_MAX) written.clear();
      written.set(key, rev);
    };
    const known = written.get(key);
    try {
      if (known !== undefined) return remember(await kv.update(key, bytes, known)), "published";
      if (recordOrder(c) === 1) return remember(await kv.create(key, bytes)), "published";
    } catch (e) {
      if (!isWrongLastSequence(e)) throw e;
    }
    for (let attempt = 0; ; attempt++) {
      const cur = await kv.get(key);
      try {
        if (cur === null) remember(await kv.create(key, bytes));
        else {
          if (cur.operation === "PUT") {
            let existing: RouteChange | undefined;
            try {
              existing = decodeRecord(key, cur.value);
            } catch {
              existing = undefined; // a bad record is overwritten by a good one
            }
            if (existing !== undefined && recordOrder(existing) >= recordOrder(c) && (await trusted(key, cur.value, cur.revision))) {
              remember(cur.revision);
              return "superseded";
            }
          }
          remember(await kv.update(key, bytes, cur.revision));
        }
        return "published";
      } catch (e) {
        if (isWrongLastSequence(e) && attempt < 10) continue;
        throw e;
      }
    }
  };
}
