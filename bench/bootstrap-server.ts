/**
 * Child process for the HTTP benchmark: serves either the real bootstrap
 * edge (a RouteTable with N distributed-device routes over 1,000 products,
 * held by three instances) or the baseline — a bare node:http server that
 * reads the body and writes one fixed reply, the floor any Node HTTP
 * handler stands on. Mode `nearest` is the real edge with the nearest
 * strategy on: products 0-499 have three candidates and their devices are
 * nearest-placed and already in place (held by the candidate nearest to the
 * load generator, which a CIDR override puts in Frankfurt); products
 * 500-999 are specified-strategy devices. Mode `workers` is the real edge
 * as the daemon runs it with `edge.workers: N` (argument 3): N worker
 * processes on one port, each started from a snapshot of this table.
 * Prints its port on stdout once ready.
 */
import { createServer } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEdgePool } from "../internal/daemon/edge-pool.js";
import { createServer as createNetServer, type Server } from "node:net";
import type { AddressInfo } from "node:net";
import { RouteTable } from "../internal/routes/index.js";
import { createBootstrapServer } from "../internal/bootstrap/index.js";
import { createMetrics } from "../internal/metrics/index.js";
import { createLogger } from "../internal/log/index.js";
import { bootstrapSuccessBody } from "../internal/domain/index.js";
import { createEdgeLimiter, createNearestResolver } from "../internal/bootstrap/index.js";
import { createClientIpResolver, createLocator, KNOWN_REGIONS, packagedCityDatabases } from "../internal/geo/index.js";
import { benchDeviceName, benchProductKey, BENCH_HOLDERS, BENCH_HOLDER_REGIONS, NEAREST_PRODUCTS } from "./names.js";

const [mode = "ours", routesArg = "100000"] = process.argv.slice(2);
// mode workers: argv[4] is the worker count
const n = Number(routesArg);

let server: Server | undefined;
if (mode === "ours" || mode === "nearest" || mode === "workers") {
  const routeTable = new RouteTable();
  BENCH_HOLDERS.forEach((h, i) => {
    routeTable.setEndpoint(h, { host: `iot-as-mqtt.region-${i}.example.com`, port: 1883 });
    routeTable.setRegion(h, BENCH_HOLDER_REGIONS[i]!);
  });
  for (let p = 0; p < 1000; p++) routeTable.setProduct(benchProductKey(p), BENCH_HOLDERS[0], false);
  routeTable.reserveDevices(n);
  const block: string[] = [];
  for (let i = 0; i < n; i++) {
    block.push(`${benchProductKey(i % 1000)} ${BENCH_HOLDERS[i % 3]!} ${benchDeviceName(i)}`);
    if (block.length === 65536 || i === n - 1) {
      routeTable.loadDeviceBlock(block.join("\n"));
      block.length = 0;
    }
  }
  routeTable.endLoad();
  const metrics = createMetrics();
  let placements = 0;
  if (mode === "nearest") {
    // Nearest-placed devices, already in place at the Frankfurt candidate.
    for (let p = 0; p < NEAREST_PRODUCTS; p++) routeTable.setCandidates(benchProductKey(p), BENCH_HOLDERS);
    for (let i = 0; i < n; i++) if (i % 1000 < NEAREST_PRODUCTS) routeTable.setDevice(benchProductKey(i % 1000), benchDeviceName(i), BENCH_HOLDERS[1], false, true);
  }
  if (mode === "workers") {
    const dataDir = mkdtempSync(join(tmpdir(), "iotfed-bench-edge-"));
    const pool = createEdgePool({
      workers: Number(process.argv[4] ?? 1),
      routeTable,
      dataDir,
      worker: {
        listen: "127.0.0.1:0",
        limits: { maxBodyBytes: 4096, requestTimeoutMs: 10000, keepAliveMs: 60000, maxConnections: 1e6, maxConnectionsPerIp: 1e6, ratePerIp: 1e9, burst: 1e9 },
        trustedProxies: [],
        nearest: false,
        logLevel: "silent",
        svc: "bench",
      },
      metrics,
      logger: createLogger("silent"),
    });
    const address = await pool.start();
    process.stdout.write(`${address.slice(address.lastIndexOf(":") + 1)}\n`);
    process.on("SIGTERM", () => void pool.stop(1000).finally(() => {
      rmSync(dataDir, { recursive: true, force: true });
      process.exit(0);
    }));
  } else server = createBootstrapServer({
    routeTable,
    metrics,
    logger: createLogger("silent"),
    maxBodyBytes: 4096,
    requestTimeoutMs: 10000,
    keepAliveMs: 60000,
    // The production limiter, with limits no benchmark reaches: its cost is measured, never its refusals.
    limiter: createEdgeLimiter({ maxConnections: 1e6, maxConnectionsPerIp: 1e6, ratePerIp: 1e9, burst: 1e9, maxTracked: 1e6 }, () => {
      throw new Error("bench: the edge limiter shed work");
    }),
    ...(mode === "nearest"
      ? {
          nearest: createNearestResolver({
            routeTable,
            // the packaged city database is loaded as in production; the
            // loopback load generator is placed by an operator override
            locator: createLocator({
              databases: packagedCityDatabases(),
              overrides: [{ cidr: "127.0.0.0/8", region: "eu-central-1" }],
              regionAt: (r) => KNOWN_REGIONS[r],
              cacheSize: 100000,
            }),
            clientIp: createClientIpResolver([]),
            regionAt: (r) => KNOWN_REGIONS[r],
            // Never called when the devices are in place; say so if it is.
            place: (_pk, _dn, holder) => {
              if (placements++ === 0) process.stderr.write("bench server: a placement was asked for: the nearest devices are not in place, the figures are wrong\n");
              return holder;
            },
            metrics,
          }),
        }
      : {}),
  });
} else if (mode === "raw") {
  // The second baseline: raw sockets that find the end of the head and
  // Content-Length, read the body and write one fixed reply (no checks at all).
  const body = Buffer.from(bootstrapSuccessBody({ host: "iot-as-mqtt.region-0.example.com", port: 1883 }));
  const reply = Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`), body]);
  server = createNetServer({ noDelay: true }, (sock) => {
    let buf: Buffer | undefined;
    sock.on("data", (chunk: Buffer) => {
      buf = buf === undefined ? chunk : Buffer.concat([buf, chunk]);
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const m = /content-length: *(\d+)/i.exec(buf.toString("latin1", 0, end));
        const len = m === null ? 0 : Number(m[1]);
        if (buf.length < end + 4 + len) return;
        buf = buf.subarray(end + 4 + len);
        sock.write(reply);
      }
    });
    sock.on("error", () => sock.destroy());
  });
} else {
  const body = Buffer.from(bootstrapSuccessBody({ host: "iot-as-mqtt.region-0.example.com", port: 1883 }));
  const http = createServer((req, res) => {
    req.on("data", () => {});
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
      res.end(body);
    });
  });
  http.keepAliveTimeout = 60000;
  server = http;
}
(globalThis as { gc?: () => void }).gc?.();
const s = server;
if (s !== undefined) {
  s.listen(0, "127.0.0.1", () => {
    process.stdout.write(`${(s.address() as AddressInfo).port}\n`);
  });
  process.on("SIGTERM", () => process.exit(0));
}
