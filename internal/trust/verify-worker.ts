import { parentPort } from "node:worker_threads";
import { createVerifyWork, type PackedTask } from "./verify-work.js";

/** A verifier thread (verify-pool.ts): checks the records of each task it is sent. */
const work = createVerifyWork();
parentPort!.on("message", (task: PackedTask) => {
  parentPort!.postMessage(work.run(task));
});
