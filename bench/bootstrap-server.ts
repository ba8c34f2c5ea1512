/**
 * Child process for the HTTP benchmark: serves either the real bootstrap
 * edge (a RouteTable with N distributed-device routes over 1,000 products,
 * held by three instances) or the baseline — a bare node:http server that
 * reads the body and writes one fixed reply, the floor any Node HTTP
 * handler stands on. Prints its port on stdout once ready.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { RouteTable } from "../internal/routes/index.js";
import { createBootstrapServer } from "../internal/bootstrap/index.js";
import { createMetrics } from "../internal/metrics/index.js";
import { createLogger } from "../internal/log/index.js";
import { bootstrapSuccessBody } from "../internal/domain/index.js";
import { benchDeviceName, benchProductKey, BENCH_HOLDERS } from "./names.js";

const [mode = "ours", routesArg = "100000"] = process.argv.slice(2);
const n = Number(routesArg);

let server: Server;
if (mode === "ours") {
  const routes = new RouteTable();
  BENCH_HOLDERS.forEach((h, i) => routes.setEndpoint(h, { host: `iot-as-mqtt.region-${i}.example.com`, port: 1883 }));
  for (let p = 0; p < 1000; p++) routes.setProduct(benchProductKey(p), BENCH_HOLDERS[0], false);
  routes.reserveDevices(n);
  const block: string[] = [];
  for (let i = 0; i < n; i++) {
    block.push(`${benchProductKey(i % 1000)} ${BENCH_HOLDERS[i % 3]!} ${benchDeviceName(i)}`);
    if (block.length === 65536 || i === n - 1) {
      routes.loadDeviceBlock(block.join("\n"));
      block.length = 0;
    }
  }
  routes.endLoad();
  server = createBootstrapServer({
    routes,
    metrics: createMetrics(),
    logger: createLogger("silent"),
    maxBodyBytes: 4096,
    requestTimeoutMs: 10000,
    keepAliveMs: 60000,
  });
} else {
  const body = Buffer.from(bootstrapSuccessBody({ host: "iot-as-mqtt.region-0.example.com", port: 1883 }));
  server = createServer((req, res) => {
    req.on("data", () => {});
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60000;
}
(globalThis as { gc?: () => void }).gc?.();
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
