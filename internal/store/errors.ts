import { ResourceExhaustedError, UnavailableError, isIotfedError } from "../domain/index.js";

/**
 * SQLite's errors as domain errors, so that no layer above the store reads
 * SQLite codes: a full store (its size limit or the disk) and a failing disk
 * become refusals that say nothing was changed (the transaction rolled back
 * whole). Anything else is returned unchanged (a fault of ours: INTERNAL).
 */
export function storeError(e: unknown): unknown {
  if (isIotfedError(e)) return e;
  const code = (e as { code?: unknown } | null)?.code;
  if (code === "SQLITE_FULL") {
    return new ResourceExhaustedError("the store is full (limits.storeMaxBytes or the disk): nothing was changed; free space or raise the limit", { cause: e });
  }
  if (code === "SQLITE_IOERR" || (typeof code === "string" && code.startsWith("SQLITE_IOERR_"))) {
    return new UnavailableError("the store cannot write to its disk: nothing was changed", { cause: e });
  }
  return e;
}

/**
 * The repository with every method's SQLite errors translated by
 * storeError. Methods keep their `this` (the repository itself).
 */
export function translatingErrors<T extends object>(repo: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(repo)) {
    out[name] =
      typeof value === "function"
        ? (...args: unknown[]): unknown => {
            try {
              return (value as (...a: unknown[]) => unknown).apply(repo, args);
            } catch (e) {
              throw storeError(e);
            }
          }
        : value;
  }
  return out as T;
}
