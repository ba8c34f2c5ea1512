/**
 * Child process for the HTTP benchmark: serves either the real bootstrap
 * edge (RouteTable with N devices) or the baseline — a bare node:http server
 * that reads the body and writes one fixed reply, the floor any Node HTTP
 * handler stands on. Prints its port on stdout.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { RouteTable } from "../internal/routes/index.js";
import { createBootstrapServer } from "../internal/bootstrap/index.js";
import { createMetrics } from "../internal/metrics/index.js";
import { createLogger } from "../internal/log/index.js";
import { bootstrapSuccessBody } from "../internal/domain/index.js";

const [mode = "ours", devicesArg = "100000"] = process.argv.slice(2);
const n = Number(devicesArg);
const ep = { host: "iot-as-mqtt.cn-shanghai.example.com", port: 1883 };

let server;
if (mode === "ours") {
  const routes = new RouteTable();
  routes.setEndpoint("sh-1", ep);
  routes.setProduct("a1B2c3D4e5F", "sh-1", true);
  for (let i = 0; i < n; i++) routes.setDevice("a1B2c3D4e5F", `dev-${i}`, "sh-1", false);
  server = createBootstrapServer({
    routes,
    metrics: createMetrics(),
    logger: createLogger("silent"),
    maxBodyBytes: 4096,
    requestTimeoutMs: 10000,
    keepAliveMs: 5000,
  });
} else {
  const body = Buffer.from(bootstrapSuccessBody(ep));
  server = createServer((req, res) => {
    req.on("data", () => {});
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 5000;
}
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
