import { readFileSync, statSync } from "node:fs";
import type { Logger } from "../log/index.js";

/**
 * The clock of authorization codes (R4: valid five minutes). Normally
 * `Date.now`. With `IOTFED_CLOCK_OFFSET_FILE`, the file's number of
 * milliseconds is added, re-read when the file changes: a test moves a
 * daemon's code clock past five minutes without sleeping. Logged loudly;
 * not for production.
 */
export function createCodeClock(offsetFile: string | undefined, log: Logger): () => number {
  if (offsetFile === undefined || offsetFile === "") return Date.now;
  log.warn({ file: offsetFile }, "IOTFED_CLOCK_OFFSET_FILE is set: authorization-code time is shifted by the file's milliseconds (for tests only)");
  let mtime = -1;
  let offset = 0;
  return () => {
    try {
      const st = statSync(offsetFile);
      if (st.mtimeMs !== mtime) {
        mtime = st.mtimeMs;
        const n = Number(readFileSync(offsetFile, "utf8").trim());
        offset = Number.isFinite(n) ? n : 0;
      }
    } catch {
      offset = 0;
    }
    return Date.now() + offset;
  };
}
