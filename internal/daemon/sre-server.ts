import { createServer, type Server } from "node:http";
export interface SreServerOptions {
  /** The Prometheus exposition and its content type. */
  metrics: { render(): Promise<string>; contentType: string };
  /** Undefined when ready; else why not. */
  notReady(): string | undefined;
  /**
   * Undefined when fully serving; else what is degraded (e.g. replication
   * stale). A degraded daemon still answers 200: bootstrap keeps serving
   * from memory, and taking every edge out of rotation during a NATS
   * outage would turn a stale-routes problem into an outage.
   */
  degraded?(): string | undefined;
}

/** The SRE plane: /metrics (Prometheus text), /healthz (alive), /readyz (serving). */
export function createSreServer(opts: SreServerOptions): Server {
  const server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    const json = (status: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
      res.end(text);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return json(405, { error: "method not allowed" });
    if (path === "/metrics") {
      opts.metrics.render().then(
        (text) => {
          res.writeHead(200, { "content-type": opts.metrics.contentType });
          res.end(text);
        },
        () => json(500, { error: "metrics collection failed" }),
      );
      return;
    }
    if (path === "/healthz") return json(200, { status: "ok" });
    if (path === "/readyz") {
      const why = opts.notReady();
      if (why !== undefined) return json(503, { status: "not ready", reason: why });
      const degraded = opts.degraded?.();
      return degraded === undefined ? json(200, { status: "ready" }) : json(200, { status: "degraded", reason: degraded });
    }
    json(404, { error: "not found: /metrics, /healthz or /readyz" });
  });
  server.requestTimeout = 10000;
  server.headersTimeout = 5000;
  return server;
}
