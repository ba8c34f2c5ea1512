import { Worker } from "node:worker_threads";
import type { KeyObject } from "node:crypto";
import { createVerifyWork, packTask, type VerifyItem, type VerifyResult } from "./verify-work.js";

/** Below this many records a batch is checked on the calling thread: a round trip to a worker costs more. */
const INLINE_BELOW = 64;

export type VerifyPool = ReturnType<typeof createVerifyPool>;

/**
 * Checks record signatures off the main thread (docs/operating/security.md
 * "Verification"): a catch-up's batches are split across `threads` worker
 * threads, so that a fresh daemon verifying a whole bucket uses every
 * core; small batches (live updates) are checked inline. Bootstrap never
 * waits for it: the route table is read from memory.
 */
export function createVerifyPool(threads: number) {
  const inline = createVerifyWork();
  const workers = Array.from({ length: Math.max(0, threads) }, () => {
    const w = new Worker(new URL("./verify-worker.js", import.meta.url));
    w.unref();
    return { worker: w, keys: new Set<string>(), queue: [] as ((r: VerifyResult) => void)[] };
  });
  for (const w of workers) {
    w.worker.on("message", (r: VerifyResult) => w.queue.shift()?.(r));
    w.worker.on("error", () => undefined); // a task then waits for ever: see run()
  }
  const spki = new Map<string, Uint8Array>();

  const send = (w: (typeof workers)[number], items: VerifyItem[]): Promise<VerifyResult> =>
    new Promise((resolve) => {
      const fresh = [...new Set(items.map((i) => i.key))].filter((k) => !w.keys.has(k));
      for (const k of fresh) w.keys.add(k);
      w.queue.push(resolve);
      const task = packTask(items, fresh.map((k) => [k, spki.get(k)!]));
      w.worker.postMessage(task, [task.bytes]);
    });

  return {
    /** Makes a public key known under `name` (a signer and its key id). */
    addKey(name: string, key: KeyObject): void {
      if (spki.has(name)) return;
      spki.set(name, key.export({ format: "der", type: "spki" }));
      inline.addKey(name, key);
    },
    async run(items: VerifyItem[]): Promise<VerifyResult> {
      if (items.length < INLINE_BELOW || workers.length === 0) return inline.run(packTask(items, []));
      const per = Math.ceil(items.length / workers.length);
      const parts = await Promise.all(workers.map((w, i) => (i * per < items.length ? send(w, items.slice(i * per, (i + 1) * per)) : Promise.resolve({ ok: new Uint8Array(0), roots: [] }))));
      const ok = new Uint8Array(items.length);
      const roots: (string | undefined)[] = [];
      parts.forEach((p, i) => {
        ok.set(p.ok, i * per);
        p.roots.forEach((r, j) => {
          if (r !== undefined) roots[i * per + j] = r;
        });
      });
      return { ok, roots };
    },
    async close(): Promise<void> {
      await Promise.all(workers.map((w) => w.worker.terminate()));
    },
  };
}
