/**
 * The entry point of an edge worker process (edge.workers), forked by the
 * daemon's edge pool: internal/daemon/edge-worker.ts.
 */
import { runEdgeWorker } from "./edge-worker.js";

runEdgeWorker().catch((e: unknown) => {
  process.stderr.write(`iotfedd edge worker: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
});
