/**
 * Worker thread of the start-up load: reads device routes from the store in
 * blocks (see deviceRouteBlocks) and posts each to the main thread,
 * which hashes them into the RouteTable meanwhile. At most `window` blocks
 * are in flight: the shared counter is the back-pressure.
 */
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { deviceRouteBlocks } from "./records.js";

const { file, blockSize, window, counter } = workerData as { file: string; blockSize: number; window: number; counter: SharedArrayBuffer };
const inFlight = new Int32Array(counter);
const db = new Database(file, { readonly: true, fileMustExist: true });
try {
  db.pragma("busy_timeout = 5000");
  for (const block of deviceRouteBlocks(db, blockSize)) {
    while (Atomics.load(inFlight, 0) >= window) Atomics.wait(inFlight, 0, Atomics.load(inFlight, 0), 1000);
    Atomics.add(inFlight, 0, 1);
    parentPort!.postMessage(block);
  }
  parentPort!.postMessage(null);
} finally {
  db.close();
}
