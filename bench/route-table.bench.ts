/**
 * The RouteTable at scale, against the obvious baseline built in the same
 * run on the same keys: a V8 `Map<string, number>` keyed by
 * `productKey + "\0" + deviceName` (a Map holds at most 2^24 entries, so
 * past 16.7M routes the baseline cannot be built at all).
 *
 *  - memory per route: JS heap + off-heap bytes after the build, each side
 *    holding only what it needs to answer (ours: fingerprints; the Map: its
 *    key strings);
 *  - lookups with random keys, on flat strings decoded from bytes as the
 *    edge decodes a request's fields (made before timing; the loop's own
 *    cost is measured alone and subtracted);
 *  - the start-up load of N routes from SQLite: ours is the daemon's own path
 *    (worker-thread block reader, staged sorted insertion); the baseline
 *    reads the same rows with better-sqlite3's iterator into the Map.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { RouteTable } from "../internal/routes/index.js";
import { openStore, streamDeviceRouteBlocks } from "../internal/store/index.js";
import { readRouteSnapshot, routeSnapshotPath, writeRouteSnapshot } from "../internal/routing/index.js";
import { benchDeviceName, benchProductKey, BENCH_HOLDERS } from "./names.js";

const gc = (globalThis as { gc?: () => void }).gc;

function mem(): number {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function time(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/** A random permutation-like sequence of route indexes (LCG modulo n, full period over 2^k ≥ n, skipping ≥ n). */
function randomIndexes(n: number, count: number, seed = 12345): Uint32Array {
  const out = new Uint32Array(count);
  let x = seed >>> 0;
  for (let i = 0; i < count; ) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    const v = Math.floor((x / 4294967296) * n);
    out[i++] = v;
  }
  return out;
}

export interface ScaleSide {
  bytesPerRoute: number;
  buildMs: number;
  hitNs: number;
  missNs: number;
  loadMs: number;
  /** The same routes from a route snapshot (a clean shutdown's), ms; 0 when not measured. */
  snapshotLoadMs?: number;
}
export interface ScaleResult {
  routes: number;
  lookups: number;
  harnessNs: number;
  setupMs: number;
  ours: ScaleSide;
  baseline: ScaleSide | { error: string };
}

export async function benchRouteScale(n: number, lookups: number): Promise<ScaleResult> {
  if (gc === undefined) throw new Error("run with node --expose-gc");
  const hits = randomIndexes(n, lookups);
  let sink = 0;
  // The lookup keys, made before timing as the edge makes them: flat strings
  // decoded from the request bytes (Buffer#toString("latin1")), in request
  // order (random over the routes).
  const flat = (s: string): string => Buffer.from(s, "latin1").toString("latin1");
  const pks = Array.from({ length: 1000 }, (_, p) => flat(benchProductKey(p)));
  const names = Array.from(hits, (i) => flat(benchDeviceName(i)));
  const harness = time(() => {
    for (let k = 0; k < lookups; k++) sink += names[k]!.length + pks[hits[k]! % 1000]!.length;
  });

  // ---- ours
  let before = mem();
  const rt = new RouteTable();
  BENCH_HOLDERS.forEach((h, i) => rt.setEndpoint(h, { host: `mqtt.region-${i}.example.com`, port: 1883 }));
  const buildMs = time(() => {
    for (let i = 0; i < n; i++) rt.setDevice(benchProductKey(i % 1000), benchDeviceName(i), BENCH_HOLDERS[i % 3]!, false);
  });
  const oursBytes = (mem() - before) / n;
  const hitMs = time(() => {
    for (let k = 0; k < lookups; k++) sink += rt.lookup(pks[hits[k]! % 1000]!, names[k]!);
  });
  const missMs = time(() => {
    for (let k = 0; k < lookups; k++) sink += rt.lookup(pks[(hits[k]! + 1) % 1000]!, names[k]!);
  });
  const ours: ScaleSide = {
    bytesPerRoute: oursBytes,
    buildMs,
    hitNs: ((hitMs - harness) * 1e6) / lookups,
    missNs: ((missMs - harness) * 1e6) / lookups,
    loadMs: 0,
  };
  // Spot-check exactness before throwing the table away.
  for (let i = 0; i < n; i += 9973) {
    if (rt.instanceAt(rt.lookup(benchProductKey(i % 1000), benchDeviceName(i))) !== BENCH_HOLDERS[i % 3]) throw new Error(`wrong route for ${i}`);
  }

  // ---- baseline
  let baseline: ScaleSide | { error: string };
  {
    before = mem();
    const map = new Map<string, number>();
    try {
      const bBuild = time(() => {
        for (let i = 0; i < n; i++) map.set(`${benchProductKey(i % 1000)}\0${benchDeviceName(i)}`, i % 3);
      });
      const bBytes = (mem() - before) / n;
      const bHit = time(() => {
        for (let k = 0; k < lookups; k++) sink += map.get(`${pks[hits[k]! % 1000]!}\0${names[k]!}`) ?? -1;
      });
      const bMiss = time(() => {
        for (let k = 0; k < lookups; k++) sink += map.get(`${pks[(hits[k]! + 1) % 1000]!}\0${names[k]!}`) ?? -1;
      });
      // The Map's lookups build one more string (the joined key): that is the Map's cost, not the harness's.
      baseline = { bytesPerRoute: bBytes, buildMs: bBuild, hitNs: ((bHit - harness) * 1e6) / lookups, missNs: ((bMiss - harness) * 1e6) / lookups, loadMs: 0 };
    } catch (e) {
      baseline = { error: `${(e as Error).name}: ${(e as Error).message} at ${map.size.toLocaleString("en")} entries` };
    }
    map.clear();
  }

  // ---- load from SQLite
  if (process.env.BENCH_SKIP_LOAD === "1") {
    if (sink === 42) console.log("");
    return { routes: n, lookups, harnessNs: (harness * 1e6) / lookups, setupMs: 0, ours, baseline };
  }
  const dir = mkdtempSync(join(tmpdir(), "iotfed-bench-routes-"));
  let setupMs: number;
  try {
    const { db } = openStore(dir);
    const ins = db.prepare(
      "INSERT INTO device_routes(product_key, device_name, holder, generation, committed_by, committed_at, revision) VALUES (?, ?, ?, 1, ?, 0, 0)",
    );
    setupMs = time(() => {
      db.transaction(() => {
        for (let p = 0; p < 1000; p++) {
          const pk = benchProductKey(p);
          for (let i = p; i < n; i += 1000) ins.run(pk, benchDeviceName(i), BENCH_HOLDERS[i % 3]!, BENCH_HOLDERS[i % 3]!);
        }
      })();
    });
    db.pragma("wal_checkpoint(TRUNCATE)");
    db.close();
    gc();
    // Ours: exactly the daemon's start-up path.
    const t0 = performance.now();
    const { db: db2 } = openStore(dir);
    const count = (db2.prepare("SELECT count(*) AS n FROM device_routes").get() as { n: number }).n;
    const loaded = new RouteTable();
    loaded.reserveDevices(count);
    await streamDeviceRouteBlocks(dir, (b) => loaded.loadDeviceBlock(b));
    loaded.endLoad();
    ours.loadMs = performance.now() - t0;
    if (loaded.stats().devices !== n) throw new Error(`loaded ${loaded.stats().devices} of ${n}`);
    // The start-up after a clean shutdown: the snapshot it wrote, read back (as the daemon does).
    writeRouteSnapshot(routeSnapshotPath(dir), "bench", loaded.snapshot());
    gc();
    const t2 = performance.now();
    const snap = readRouteSnapshot(routeSnapshotPath(dir), "bench");
    if (typeof snap === "string") throw new Error(`snapshot: ${snap}`);
    const restored = new RouteTable();
    restored.restore(snap);
    ours.snapshotLoadMs = performance.now() - t2;
    if (restored.stats().devices !== n || restored.lookup(benchProductKey(7), benchDeviceName(7)) !== loaded.lookup(benchProductKey(7), benchDeviceName(7))) throw new Error("the snapshot does not answer as the table it came from");
    if ("loadMs" in baseline) {
      const t1 = performance.now();
      const map = new Map<string, number>();
      const holders = new Map<string, number>(BENCH_HOLDERS.map((h, i) => [h, i]));
      for (const [pk, dn, h] of db2.prepare("SELECT product_key, device_name, holder FROM device_routes").raw(true).iterate() as IterableIterator<[string, string, string]>) {
        map.set(`${pk}\0${dn}`, holders.get(h)!);
      }
      baseline.loadMs = performance.now() - t1;
      map.clear();
    }
    db2.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (sink === 42) console.log("");
  return { routes: n, lookups, harnessNs: (harness * 1e6) / lookups, setupMs, ours, baseline };
}
