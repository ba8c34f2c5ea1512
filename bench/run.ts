/**
 * iotfed benchmarks. Each one runs its baseline in the same run and prints
 * ratios. Usage:
 *   npm run bench                                  # all, default sizes
 *   npm run bench -- route | http | workers | nearest | replication | catchup | handoff | cross-account | soak | thing
 *   BENCH_SOAK_SECONDS=600 npm run bench -- soak   # a longer soak (default 60 s)
 *   BENCH_ROUTES=50000000 npm run bench -- route   # the table at 50M routes
 *   BENCH_SKIP_LOAD=1 ...                          # without the SQLite load part
 */
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { cpuMs, treeCpuMs } from "./proc.js";
import { join } from "node:path";
import { cpus } from "node:os";
import { benchRouteScale } from "./route-table.bench.js";
import { benchHandoff } from "./handoff.bench.js";
import { benchCrossAccount } from "./cross-account.bench.js";
import { benchReplication } from "./replication.bench.js";
import { benchCatchup } from "./catchup.bench.js";
import { benchSoak } from "./soak.bench.js";
import { benchThing } from "./thing.bench.js";
import { bootstrapRequest, load, type LoadResult } from "./load.js";
import { benchDeviceName, benchProductKey, NEAREST_PRODUCTS } from "./names.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const which = process.argv[2] ?? "all";
const fmt = (x: number, d = 1) => x.toFixed(d);
const num = (x: number) => Math.round(x).toLocaleString("en");

function header(): void {
  console.log(`node ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model ?? "?"}), ${new Date().toISOString()}`);
}

async function routeBench(): Promise<void> {
  const n = Number(process.env.BENCH_ROUTES ?? 10_000_000);
  const lookups = 2_000_000;
  const r = await benchRouteScale(n, lookups);
  console.log(`\nroute table, ${num(n)} routes (1,000 products, 3 holders), ${num(lookups)} lookups with random keys`);
  console.log(`  baseline: Map<string, number> keyed by productKey + "\\0" + deviceName, built in this run`);
  console.log(`  (the bare loop over the request strings costs ${fmt(r.harnessNs)} ns a lookup; subtracted from the lookup figures)`);
  const b = "error" in r.baseline ? undefined : r.baseline;
  const rows: [string, number, number | undefined, string, boolean][] = [
    ["memory per route (heap + off-heap)", r.ours.bytesPerRoute, b?.bytesPerRoute, "B", true],
    ["build, one route at a time", r.ours.buildMs, b?.buildMs, "ms", true],
    ["lookup, hit (random key)", r.ours.hitNs, b?.hitNs, "ns", true],
    ["lookup, miss", r.ours.missNs, b?.missNs, "ns", true],
    ["lookups/s on one core, hit", 1e9 / r.ours.hitNs, b === undefined ? undefined : 1e9 / b.hitNs, "/s", false],
    ["lookups/s on one core, miss", 1e9 / r.ours.missNs, b === undefined ? undefined : 1e9 / b.missNs, "/s", false],
  ];
  if (r.ours.loadMs > 0) rows.push([`load ${num(n)} routes from SQLite`, r.ours.loadMs, b?.loadMs, "ms", true]);
  if ((r.ours.snapshotLoadMs ?? 0) > 0) rows.push([`load ${num(n)} from a route snapshot`, r.ours.snapshotLoadMs!, b?.loadMs, "ms", true]);
  console.log(`  ${"".padEnd(38)} ${"ours".padStart(12)} ${"baseline".padStart(12)}  better by`);
  for (const [what, ours, base, unit, lowerIsBetter] of rows) {
    const o = unit === "/s" ? num(ours) : fmt(ours);
    const bs = base === undefined ? "-" : unit === "/s" ? num(base) : fmt(base);
    const ratio = base === undefined ? "-" : `${fmt(lowerIsBetter ? base / ours : ours / base, 2)}x`;
    console.log(`  ${what.padEnd(38)} ${(o + " " + unit).padStart(12)} ${(bs + " " + (base === undefined ? "" : unit)).padStart(12)}  ${ratio}`);
  }
  if ("error" in r.baseline) console.log(`  baseline could not be built: ${r.baseline.error}`);
  if (r.setupMs > 0) console.log(`  (setup: ${num(n)} rows written to SQLite in ${num(r.setupMs)} ms)`);
}

/** With taskset (util-linux) and two or more CPUs, the server gets CPU 0 and the load generator (this process) the others. */
const pinning = cpus().length >= 2 && spawnSync("taskset", ["-V"]).status === 0;

async function withServer<T>(mode: string, routes: number, fn: (port: number, pid: number | undefined) => Promise<T>, extra: string[] = []): Promise<T> {
  const args = ["--expose-gc", "--max-old-space-size=8192", join(here, "bootstrap-server.js"), mode, String(routes), ...extra];
  const child = pinning
    ? spawn("taskset", ["-c", "0", process.execPath, ...args], { stdio: ["ignore", "pipe", "inherit"] })
    : spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.setEncoding("utf8").once("data", (d: string) => resolve(Number(d.trim())));
    child.once("exit", (c) => reject(new Error(`bench server exited ${c}`)));
  });
  try {
    // With taskset the child execs node in place, so its pid is the server's.
    return await fn(port, child.pid);
  } finally {
    child.kill("SIGTERM");
  }
}

const line = (label: string, r: Measured) =>
  console.log(
    `  ${label.padEnd(22)} ${num(r.requests / r.seconds).padStart(7)} req/s  p50 ${fmt(r.p50, 2)} ms  p99 ${fmt(r.p99, 2)} ms  server CPU ${fmt(r.cpuUs)} µs/request  non-200: ${r.non200}  errors: ${r.errors}`,
  );

async function httpBench(): Promise<void> {
  if (pinning) spawnSync("taskset", ["-cp", `1-${cpus().length - 1}`, String(process.pid)]);
  try {
    await httpRuns();
  } finally {
    if (pinning) spawnSync("taskset", ["-cp", `0-${cpus().length - 1}`, String(process.pid)]);
  }
}


interface Measured extends LoadResult {
  /** Server CPU time per request, µs: what the server costs, whatever else the host is doing. */
  cpuUs: number;
}

/** Warm-up (discarded), then the measured run, against a fresh server. */
async function measured(mode: string, routes: number, total: number, conns: number, request: (i: number) => Buffer): Promise<Measured> {
  return withServer(mode, routes, async (port, pid) => {
    await load({ port, total: Math.min(20_000, total), conns, maxSeconds: 30, request });
    const c0 = cpuMs(pid);
    const r = await load({ port, total, conns, maxSeconds: 60, request });
    return { ...r, cpuUs: ((cpuMs(pid) - c0) * 1000) / r.requests };
  });
}

async function httpRuns(): Promise<void> {
  const total = Number(process.env.BENCH_REQUESTS ?? 60_000);
  const conns = 64;
  const routes = 100_000;
  const req = (n: number) => (i: number) => {
    const d = Math.floor(((Math.imul(i + 1, 2654435761) >>> 0) / 4294967296) * n);
    return bootstrapRequest(benchProductKey(d % 1000), benchDeviceName(d));
  };
  console.log(`\nbootstrap over HTTP/1.1 keep-alive: ${num(total)} requests per run, ${conns} connections, distinct device names, ${num(routes)} routes`);
  console.log("  (baseline: bare node:http server reading the body and writing one fixed reply; second baseline: raw net sockets finding the end of the head and Content-Length, writing one fixed reply; each server warmed up with 20,000 requests first)");
  console.log(pinning ? "  (server pinned to CPU 0, load generator to the other CPUs, with taskset)" : "  (client and server share the CPUs: taskset not found)");
  const results: [string, Measured][] = [];
  const pairs = Number(process.env.BENCH_PAIRS ?? 5);
  const pairRatios: number[] = [];
  for (let p = 0; p < pairs; p++) {
    const b = await measured("baseline", routes, total, conns, req(routes));
    line("baseline", b);
    const w = await measured("raw", routes, total, conns, req(routes));
    line("raw sockets", w);
    const o = await measured("ours", routes, total, conns, req(routes));
    line("ours", o);
    results.push(["baseline", b], ["raw", w], ["ours", o]);
    pairRatios.push(o.requests / o.seconds / (b.requests / b.seconds));
  }
  const mean = (m: string, f: (r: Measured) => number) => {
    const rs = results.filter(([k]) => k === m).map(([, r]) => f(r));
    return rs.reduce((x, y) => x + y, 0) / rs.length;
  };
  const rate = (r: LoadResult) => r.requests / r.seconds;
  const sortedRatios = [...pairRatios].sort((x, y) => x - y);
  console.log(`  ours/baseline throughput: median of ${pairs} back-to-back pairs ${fmt(sortedRatios[Math.floor(pairs / 2)]!, 2)}x (pairs: ${pairRatios.map((x) => fmt(x, 2)).join(", ")}); ratio of means ${fmt(mean("ours", rate) / mean("baseline", rate), 2)}x; target >= 0.9`);
  const med = (m: string, f: (r: Measured) => number) => {
    const xs = results.filter(([k]) => k === m).map(([, r]) => f(r)).sort((x, y) => x - y);
    return xs[Math.floor(xs.length / 2)]!;
  };
  console.log(
    `  server CPU per request, median: node:http baseline ${fmt(med("baseline", (r) => r.cpuUs))} µs, raw sockets ${fmt(med("raw", (r) => r.cpuUs))} µs, ours ${fmt(med("ours", (r) => r.cpuUs))} µs: ` +
      `ours/node:http ${fmt(med("ours", (r) => r.cpuUs) / med("baseline", (r) => r.cpuUs), 2)}x (target <= 0.62x), ours/raw sockets ${fmt(med("ours", (r) => r.cpuUs) / med("raw", (r) => r.cpuUs), 2)}x; ` +
      `ours sustains ${fmt(med("baseline", (r) => r.cpuUs) / med("ours", (r) => r.cpuUs), 2)}x node:http's requests/s on a saturated core`,
  );
  console.log(`  ours/baseline p99: ${fmt(mean("ours", (r) => r.p99) / mean("baseline", (r) => r.p99), 2)}x`);

  const small = 10_000;
  const big = Number(process.env.BENCH_BIG_ROUTES ?? 10_000_000);
  console.log(`\nbootstrap p99 with ${num(big)} routes loaded vs ${num(small)} (same load; target: within 1.2x)`);
  const scale: [number, Measured][] = [];
  for (const n of [small, big, small, big]) {
    const r = await measured("ours", n, total, conns, req(n));
    scale.push([n, r]);
    line(`${num(n)} routes`, r);
  }
  const p99 = (n: number) => scale.filter(([k]) => k === n).reduce((x, [, r]) => x + r.p99, 0) / 2;
  console.log(`  p99(${num(big)}) / p99(${num(small)}): ${fmt(p99(big) / p99(small), 2)}x (mean of two runs each)`);
}

/**
 * edge.workers: the real edge pool (the daemon's code) with 1 and with 2
 * worker processes on one port, alternating in the same run. Server CPU is
 * the pool's process and its workers, from /proc; the load generator (this
 * process, one core at most) shares the machine, and its CPU is printed.
 */
async function workersBench(): Promise<void> {
  const total = Number(process.env.BENCH_REQUESTS ?? 100_000);
  const pairs = Number(process.env.BENCH_PAIRS ?? 3);
  const conns = 64;
  const routes = 100_000;
  const cores = cpus().length;
  const req = (i: number) => {
    const d = Math.floor(((Math.imul(i + 1, 2654435761) >>> 0) / 4294967296) * routes);
    return bootstrapRequest(benchProductKey(d % 1000), benchDeviceName(d));
  };
  console.log(`\nedge.workers: 1 worker against 2 on one port, ${num(total)} requests per run, ${conns} keep-alive connections, ${num(routes)} routes, ${cores} cores, ${pairs} pairs (1, 2, 1, 2, ...)`);
  console.log("  (server CPU: the daemon's pool process and its workers; the load generator is this process and shares the cores)");
  const runs: { workers: number; rate: number; p99: number; serverUs: number; genUs: number }[] = [];
  for (let p = 0; p < pairs; p++) {
    for (const workers of [1, 2]) {
      const r = await withServer(
        "workers",
        routes,
        async (port, pid) => {
          await load({ port, total: 20_000, conns, maxSeconds: 30, request: req });
          const c0 = treeCpuMs(pid!);
          const g0 = process.cpuUsage();
          const r = await load({ port, total, conns, maxSeconds: 60, request: req });
          const g = process.cpuUsage(g0);
          return { ...r, serverUs: ((treeCpuMs(pid!) - c0) * 1000) / r.requests, genUs: (g.user + g.system) / r.requests };
        },
        [String(workers)],
      );
      const rate = r.requests / r.seconds;
      runs.push({ workers, rate, p99: r.p99, serverUs: r.serverUs, genUs: r.genUs });
      console.log(
        `  ${workers} worker${workers === 1 ? " " : "s"} ${num(rate).padStart(7)} req/s  p99 ${fmt(r.p99, 2)} ms  server CPU ${fmt(r.serverUs)} µs/request  load generator ${fmt(r.genUs)} µs/request (${fmt((100 * r.genUs) / (r.genUs + r.serverUs), 0)}% of the CPU used)  non-200: ${r.non200}  errors: ${r.errors}`,
      );
    }
  }
  const med = (w: number, f: (r: (typeof runs)[number]) => number) => {
    const xs = runs.filter((r) => r.workers === w).map(f).sort((x, y) => x - y);
    return xs[Math.floor(xs.length / 2)]!;
  };
  console.log(
    `  medians: 1 worker ${num(med(1, (r) => r.rate))} req/s at ${fmt(med(1, (r) => r.serverUs))} µs/request; 2 workers ${num(med(2, (r) => r.rate))} req/s at ${fmt(med(2, (r) => r.serverUs))} µs/request; ` +
      `2/1 throughput ${fmt(med(2, (r) => r.rate) / med(1, (r) => r.rate), 2)}x, 2/1 CPU per request ${fmt(med(2, (r) => r.serverUs) / med(1, (r) => r.serverUs), 2)}x; load generator ${fmt(med(2, (r) => r.genUs))} µs/request`,
  );
  console.log(`  1 s of CPU / this run's CPU per request: ${num(1e6 / med(2, (r) => r.serverUs))} req/s a core while sharing the cores with the load generator (a pinned core's figure: npm run bench -- http)`);
}

/**
 * Issue 5's figure: bootstrap throughput for nearest-strategy devices that
 * are already in place (lookup, client location, nearest candidate — the
 * holder — then the cached reply) against specified-strategy devices in the
 * same server, same run, alternating.
 */
async function nearestBench(): Promise<void> {
  if (pinning) spawnSync("taskset", ["-cp", `1-${cpus().length - 1}`, String(process.pid)]);
  try {
    const block = Number(process.env.BENCH_BLOCK ?? 15_000);
    const rounds = Number(process.env.BENCH_ROUNDS ?? 6);
    const servers = Number(process.env.BENCH_PAIRS ?? 3);
    const conns = 64;
    const routes = 100_000;
    // Devices of products 0..499 are nearest-placed, 500..999 specified.
    const pick = (nearest: boolean) => (i: number) => {
      const d = Math.floor(((Math.imul(i + 1, 2654435761) >>> 0) / 4294967296) * routes);
      const inNearest = d % 1000 < NEAREST_PRODUCTS;
      const dev = inNearest === nearest ? d : (d + NEAREST_PRODUCTS) % routes;
      return bootstrapRequest(benchProductKey(dev % 1000), benchDeviceName(dev));
    };
    console.log(`\nbootstrap of nearest-strategy devices already in place vs specified-strategy devices (R3): ${num(routes)} routes, ${conns} connections`);
    console.log("  (one server with the nearest strategy on: half the products have three candidates, the client is located by a CIDR override, the packaged city database is loaded)");
    console.log(`  (per server: 20,000 requests of warm-up, both kinds interleaved, then ${rounds} rounds of ${num(block)} requests of each kind in ABBA order, so the host's noisy periods fall on both kinds alike)`);
    const ratios: number[] = [];
    const cpuRatios: number[] = [];
    for (let p = 0; p < servers; p++) {
      const r = await withServer("nearest", routes, async (port, pid) => {
        // warm-up with both kinds interleaved, as a daemon serves them
        const warmNearest = pick(true);
        const warmSpecified = pick(false);
        await load({ port, total: 20_000, conns, maxSeconds: 30, request: (i) => (i % 2 === 0 ? warmNearest(i) : warmSpecified(i)) });
        const sum = { specified: { requests: 0, seconds: 0, cpuMs: 0, non200: 0 }, nearest: { requests: 0, seconds: 0, cpuMs: 0, non200: 0 } };
        for (let round = 0; round < rounds; round++) {
          const order: ("specified" | "nearest")[] = round % 2 === 0 ? ["specified", "nearest"] : ["nearest", "specified"];
          for (const kind of order) {
            const c0 = cpuMs(pid);
            const x = await load({ port, total: block, conns, maxSeconds: 60, request: pick(kind === "nearest") });
            const k = sum[kind];
            k.cpuMs += cpuMs(pid) - c0;
            k.requests += x.requests;
            k.seconds += x.seconds;
            k.non200 += x.non200 + x.errors;
          }
        }
        return sum;
      });
      const rate = (k: { requests: number; seconds: number }) => k.requests / k.seconds;
      const cpuUs = (k: { requests: number; cpuMs: number }) => (k.cpuMs * 1000) / k.requests;
      console.log(
        `  server ${p + 1}: specified ${num(rate(r.specified))} req/s, ${fmt(cpuUs(r.specified))} µs/request; nearest ${num(rate(r.nearest))} req/s, ${fmt(cpuUs(r.nearest))} µs/request; ` +
          `nearest/specified ${fmt(rate(r.nearest) / rate(r.specified), 2)}x  (non-200 or errors: ${r.specified.non200 + r.nearest.non200})`,
      );
      ratios.push(rate(r.nearest) / rate(r.specified));
      cpuRatios.push(cpuUs(r.specified) / cpuUs(r.nearest));
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    console.log(`  nearest/specified throughput: median of ${servers} servers ${fmt(median(ratios), 2)}x (${ratios.map((x) => fmt(x, 2)).join(", ")}); target >= 0.85`);
    console.log(`  by server CPU per request: nearest sustains ${fmt(median(cpuRatios), 2)}x the specified requests/s on a saturated core (${cpuRatios.map((x) => fmt(x, 2)).join(", ")})`);
  } finally {
    if (pinning) spawnSync("taskset", ["-cp", `0-${cpus().length - 1}`, String(process.pid)]);
  }
}

async function replicationBench(): Promise<void> {
  const updates = 2000;
  const interval = 2;
  const r = await benchReplication(updates, interval);
  console.log(`\nreplication lag, commit at one daemon's store -> visible in another daemon's RouteTable, ${num(updates)} updates, one every ${interval} ms`);
  console.log("  (baseline: bare JetStream KV put -> KV watch on the same nats-server, same pacing)");
  console.log(`  ours      p50 ${fmt(r.ours.p50, 2)} ms  p99 ${fmt(r.ours.p99, 2)} ms  max ${fmt(r.ours.max, 2)} ms  (${r.ours.count} updates)`);
  console.log(`  baseline  p50 ${fmt(r.baseline.p50, 2)} ms  p99 ${fmt(r.baseline.p99, 2)} ms  max ${fmt(r.baseline.max, 2)} ms  (${r.baseline.count} updates)`);
  console.log(`  ours/baseline: p50 ${fmt(r.ours.p50 / r.baseline.p50, 2)}x, p99 ${fmt(r.ours.p99 / r.baseline.p99, 2)}x`);
}

async function catchupBench(): Promise<void> {
  const n = Number(process.env.BENCH_CATCHUP ?? 1_000_000);
  const r = await benchCatchup(n);
  const line = (name: string, x: { records: number; bucketBytes: number; ms: number; refused: number }) =>
    console.log(`  ${name.padEnd(9)} ${fmt(x.ms / 1000, 1)} s  ${num((x.records * 1000) / x.ms)} records/s  (${num(x.records)} records, ${fmt(x.bucketBytes / x.records, 0)} bytes each, refused ${x.refused})`);
  console.log(`\ncatch-up: a fresh daemon applies a bucket of ${num(n)} device routes (+1,004 instance and product records) from nats-server on loopback into its store`);
  console.log(`  (signed: each checked — its Merkle path, and per batch of 250 the previous holder's release and the holder's acceptance, two root signatures — on ${r.threads} verifier threads; baseline: the same routes unsigned, nothing to check; bucket written in ${fmt(r.writeMs / 1000, 0)} s)`);
  line("unsigned", r.unsigned);
  line("signed", r.signed);
  console.log(`  signed/unsigned time ${fmt(r.signed.ms / r.unsigned.ms, 2)}x; target: 1M signed in <= 60 s`);
}

async function handoffBench(): Promise<void> {
  const devices = 1000;
  const r = await benchHandoff(devices, 3);
  console.log(`\nhandoff: a ${devices.toLocaleString("en")}-device job, submit to completed, two daemons on loopback (mutual TLS, batches of 250)`);
  console.log("  (baseline: the same devices registered at the target by one BatchRegisterDevice call)");
  for (const [i, x] of r.runs.entries()) {
    console.log(`  run ${i + 1}: job ${fmt(x.jobMs, 0)} ms (${fmt((devices * 1000) / x.jobMs, 0)} devices/s)  baseline ${fmt(x.baselineMs, 0)} ms (${fmt((devices * 1000) / x.baselineMs, 0)} devices/s)  job/baseline ${fmt(x.jobMs / x.baselineMs, 2)}x`);
  }
  const med = (xs: number[]) => xs.sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
  const job = med(r.runs.map((x) => x.jobMs));
  const base = med(r.runs.map((x) => x.baselineMs));
  console.log(`  median: ${fmt((devices * 1000) / job, 0)} devices/s; job/baseline ${fmt(job / base, 2)}x`);
}

async function crossAccountBench(): Promise<void> {
  const devices = 1000;
  const r = await benchCrossAccount(devices, 4);
  console.log(`\ncross-account: a ${devices.toLocaleString("en")}-device job to another account, from asking for the code to completed (code issued at the target, read, redeemed, every handoff checked)`);
  console.log("  (baseline: a same-account job of as many devices between the same daemons, alternated run by run)");
  for (const [i, x] of r.runs.entries()) {
    console.log(`  run ${i + 1}: cross-account ${fmt(x.crossMs, 0)} ms (code ${fmt(x.codeMs, 1)} ms)  same-account ${fmt(x.sameMs, 0)} ms  cross/same ${fmt(x.crossMs / x.sameMs, 2)}x`);
  }
  const med = (xs: number[]) => xs.sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
  const cross = med(r.runs.map((x) => x.crossMs));
  const same = med(r.runs.map((x) => x.sameMs));
  console.log(`  median: cross-account ${fmt(cross, 0)} ms, same-account ${fmt(same, 0)} ms; cross/same ${fmt(cross / same, 2)}x`);
}

async function soakBench(): Promise<void> {
  const seconds = Number(process.env.BENCH_SOAK_SECONDS ?? 60);
  const window = 10;
  const r = await benchSoak(seconds, window);
  console.log(`\nsoak: bootstrap at one daemon for ${seconds} s (32 keep-alive connections, 20,000 devices) while jobs move 500 devices back and forth between two daemons`);
  console.log("  (baseline: the first window, the daemon fresh)");
  for (const w of r.windows) {
    console.log(`  t=${String(w.second).padStart(4)} s  ${num(w.rate).padStart(7)} req/s  p99 ${fmt(w.p99, 2)} ms  non-200 ${w.non200}  RSS ${fmt(w.rssMiB, 0)} MiB  heap ${fmt(w.heapMiB, 0)} MiB`);
  }
  const first = r.windows[0]!;
  const last = r.windows[r.windows.length - 1]!;
  console.log(`  jobs: ${r.jobs} (${num(r.devicesMoved)} device moves)`);
  console.log(`  last/first window: throughput ${fmt(last.rate / first.rate, 2)}x, p99 ${fmt(last.p99 / first.p99, 2)}x, RSS ${fmt(first.rssMiB, 0)} → ${fmt(last.rssMiB, 0)} MiB, heap ${fmt(first.heapMiB, 0)} → ${fmt(last.heapMiB, 0)} MiB`);
}

async function thingBench(): Promise<void> {
  const connections = Number(process.env.BENCH_THING_CONNECTIONS ?? 200);
  const total = Number(process.env.BENCH_THING_POSTS ?? 40_000);
  const rounds = Number(process.env.BENCH_PAIRS ?? 3);
  const r = await benchThing(connections, total, rounds);
  console.log(`\nproperty posts through the embedded broker into the store: ${num(connections)} devices, one connection each, ${num(total)} posts per run, each QoS 1 and answered before the device posts again`);
  console.log("  (ours: checked against the thing model, stored — latest value and history, many posts per transaction — and answered on _reply;");
  console.log("   baseline: a bare aedes broker in its own process, the same clients and payloads, QoS 1, the PUBACK awaited; runs alternated, server on CPU 0 with taskset)");
  const show = (name: string, x: (typeof r.ours)[0]) =>
    console.log(`  ${name.padEnd(9)} ${num(x.posts / x.seconds).padStart(7)} posts/s  p50 ${fmt(x.p50, 2)} ms  p99 ${fmt(x.p99, 2)} ms  server CPU ${fmt(x.cpuUs)} µs/post  load generator CPU ${fmt(x.clientUs)} µs/post  failed ${x.failed}`);
  for (let i = 0; i < r.ours.length; i++) {
    show("baseline", r.baseline[i]!);
    show("ours", r.ours[i]!);
  }
  const med = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
  const rate = (x: (typeof r.ours)[0]) => x.posts / x.seconds;
  console.log(`  median: ours ${num(med(r.ours.map(rate)))} posts/s, baseline ${num(med(r.baseline.map(rate)))} publishes/s; ours/baseline ${fmt(med(r.ours.map(rate)) / med(r.baseline.map(rate)), 2)}x`);
  console.log(`  server CPU per post, median: ours ${fmt(med(r.ours.map((x) => x.cpuUs)))} µs, baseline ${fmt(med(r.baseline.map((x) => x.cpuUs)))} µs (${fmt(med(r.ours.map((x) => x.cpuUs)) / med(r.baseline.map((x) => x.cpuUs)), 2)}x); properties stored for a device: ${r.stored}/3`);
}

header();
if (which === "all" || which === "route") await routeBench();
if (which === "all" || which === "http") await httpBench();
if (which === "all" || which === "workers") await workersBench();
if (which === "all" || which === "nearest") await nearestBench();
if (which === "all" || which === "replication") await replicationBench();
if (which === "all" || which === "catchup") await catchupBench();
if (which === "all" || which === "handoff") await handoffBench();
if (which === "all" || which === "cross-account") await crossAccountBench();
if (which === "all" || which === "soak") await soakBench();
if (which === "all" || which === "thing") await thingBench();
