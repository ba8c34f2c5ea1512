import { Worker } from "node:worker_threads";
import { join } from "node:path";
import { STORE_FILE } from "./db.js";

/**
 * Streams every device route of the store in `dataDir` to `onBlock` (one
 * string per block: records "productKey holder deviceName" separated by
 * "\n"), reading SQLite on a worker thread while the caller consumes blocks
 * on this one: the start-up load costs about the larger of the two, not
 * their sum. Resolves with the number of blocks.
 */
export function streamDeviceRouteBlocks(dataDir: string, onBlock: (text: string) => void, blockSize = 65536): Promise<number> {
  const counter = new SharedArrayBuffer(4);
  const inFlight = new Int32Array(counter);
  const worker = new Worker(new URL("./route-blocks-worker.js", import.meta.url), {
    workerData: { file: join(dataDir, STORE_FILE), blockSize, window: 4, counter },
  });
  let blocks = 0;
  return new Promise((resolve, reject) => {
    let failed = false;
    worker.on("message", (block: string | null) => {
      if (failed) return;
      if (block === null) return;
      try {
        onBlock(block);
        blocks++;
      } catch (e) {
        failed = true;
        void worker.terminate();
        reject(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      Atomics.sub(inFlight, 0, 1);
      Atomics.notify(inFlight, 0);
    });
    worker.once("error", (e) => {
      failed = true;
      reject(new Error(`route load: ${e.message}`, { cause: e }));
    });
    worker.once("exit", (code) => {
      if (failed) return;
      if (code === 0) resolve(blocks);
      else reject(new Error(`route load: reader thread exited with ${code}`));
    });
  });
}
