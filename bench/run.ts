/**
 * iotfed benchmarks. Each one runs its baseline in the same run and prints
 * ratios. Usage:
 *   npm run bench                         # all, default sizes
 *   BENCH_DEVICES=5000000 npm run bench   # bigger route table
 *   npm run bench -- route | http | handoff   # one of them
 */
import { spawn } from "node:child_process";
import { Agent, request } from "node:http";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { cpus } from "node:os";
import { benchRouteTable } from "./route-table.bench.js";
import { benchHandoff } from "./handoff.bench.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const which = process.argv[2] ?? "all";
const fmt = (x: number, d = 1) => x.toFixed(d);

function header(): void {
  console.log(`node ${process.version}, ${cpus().length} cpus (${cpus()[0]?.model ?? "?"}), ${new Date().toISOString()}`);
}

function routeBench(): void {
  const n = Number(process.env.BENCH_DEVICES ?? 1_000_000);
  const r = benchRouteTable(n, 2_000_000);
  console.log(`\nroute table, ${n.toLocaleString("en")} devices, 2,000,000 lookups (baseline: Map<pk, Map<dn, endpoint>>)`);
  console.log(`  (each lookup builds a fresh name string, ${fmt(r.harnessNs)} ns, subtracted below)`);
  const rows: [string, number, number, string][] = [
    ["bytes per entry (heap + off-heap)", r.ours.bytesPerEntry, r.baseline.bytesPerEntry, "B"],
    ["build time", r.ours.buildMs, r.baseline.buildMs, "ms"],
    ["lookup, hit", r.ours.hitNs, r.baseline.hitNs, "ns"],
    ["lookup, miss", r.ours.missNs, r.baseline.missNs, "ns"],
  ];
  console.log(`  ${"".padEnd(36)} ${"ours".padStart(10)} ${"baseline".padStart(10)}  baseline/ours`);
  for (const [what, ours, base, unit] of rows) {
    console.log(`  ${what.padEnd(36)} ${(fmt(ours) + " " + unit).padStart(10)} ${(fmt(base) + " " + unit).padStart(10)}  ${fmt(base / ours, 2)}x`);
  }
}

interface LoadResult {
  requests: number;
  seconds: number;
  p50: number;
  p99: number;
  non200: number;
}

/** Closed-loop load: `conns` keep-alive connections, `total` requests, at most `maxSeconds`. */
async function load(port: number, total: number, conns: number, maxSeconds: number, bodyOf: (i: number) => string): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: conns });
  const lat: number[] = [];
  let sent = 0;
  let non200 = 0;
  const t0 = process.hrtime.bigint();
  const deadline = Date.now() + maxSeconds * 1000;
  const one = (i: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const body = bodyOf(i);
      const s = process.hrtime.bigint();
      const req = request(
        { host: "127.0.0.1", port, method: "POST", path: "/auth/bootstrap", agent, headers: { "content-type": "application/x-www-form-urlencoded;charset=utf-8", "content-length": Buffer.byteLength(body) } },
        (res) => {
          if (res.statusCode !== 200) non200++;
          res.resume();
          res.on("end", () => {
            lat.push(Number(process.hrtime.bigint() - s) / 1e6);
            resolve();
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  const worker = async (): Promise<void> => {
    while (sent < total && Date.now() < deadline) await one(sent++);
  };
  await Promise.all(Array.from({ length: conns }, worker));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  agent.destroy();
  lat.sort((a, b) => a - b);
  return { requests: lat.length, seconds, p50: lat[Math.floor(lat.length * 0.5)]!, p99: lat[Math.floor(lat.length * 0.99)]!, non200 };
}

async function withServer<T>(mode: string, devices: number, fn: (port: number) => Promise<T>): Promise<T> {
  const child = spawn(process.execPath, [join(here, "bootstrap-server.js"), mode, String(devices)], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.setEncoding("utf8").once("data", (d: string) => resolve(Number(d.trim())));
    child.once("exit", (c) => reject(new Error(`bench server exited ${c}`)));
  });
  try {
    return await fn(port);
  } finally {
    child.kill("SIGTERM");
  }
}

async function httpBench(): Promise<void> {
  const devices = 100_000;
  const total = Number(process.env.BENCH_REQUESTS ?? 40_000);
  const conns = 32;
  const body = (i: number) => {
    const dn = `dev-${(i * 7919) % devices}`;
    return `productKey=a1B2c3D4e5F&deviceName=${dn}&clientId=a1B2c3D4e5F.${dn}&resources=mqtt`;
  };
  console.log(`\nbootstrap over HTTP/1.1 keep-alive, ${total.toLocaleString("en")} requests, ${conns} connections, ${devices.toLocaleString("en")} devices`);
  console.log("  (baseline: bare node:http server reading the body and writing one fixed reply; server and client share this machine)");
  const results: [string, LoadResult][] = [];
  for (const mode of ["baseline", "ours", "baseline", "ours"]) {
    const r = await withServer(mode, devices, (port) => load(port, total, conns, 60, body));
    results.push([mode, r]);
  }
  for (const [mode, r] of results) {
    console.log(`  ${mode.padEnd(9)} ${fmt(r.requests / r.seconds, 0).padStart(7)} req/s  p50 ${fmt(r.p50, 2)} ms  p99 ${fmt(r.p99, 2)} ms  non-200: ${r.non200}`);
  }
  const rate = (m: string) => {
    const rs = results.filter(([k]) => k === m).map(([, r]) => r.requests / r.seconds);
    return rs.reduce((a, b) => a + b, 0) / rs.length;
  };
  console.log(`  ours/baseline throughput: ${fmt(rate("ours") / rate("baseline"), 2)}x (mean of two runs each)`);
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

header();
if (which === "all" || which === "route") routeBench();
if (which === "all" || which === "http") await httpBench();
if (which === "all" || which === "handoff") await handoffBench();
