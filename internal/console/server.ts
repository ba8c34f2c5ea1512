import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { AdminService } from "../gen/iotfed/v1/admin_pb.js";

export interface ConsoleServerOptions {
  /** The admin API with the Connect protocol (internal/admin/server.ts). */
  connect: (req: IncomingMessage, res: ServerResponse) => void;
  tls?: { cert: Buffer; key: Buffer } | undefined;
}

/**
 * What every reply of the console carries: scripts, styles and calls from
 * this origin only, nothing inline, no framing, no referrer. The API is
 * authenticated by a bearer token in a header (never a cookie), so another
 * site cannot make a call in a signed-in operator's name.
 */
export const CONSOLE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CONSOLE_CSP,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json",
  ".map": "application/json",
};

/** The built console: dist/web, beside dist/internal. */
const ASSETS_DIR = fileURLToPath(new URL("../../web/", import.meta.url));

/**
 * The operators' web console (docs/guides/console.md): the static pages
 * built into dist/web, and AdminService at `/iotfed.v1.AdminService/<Method>`
 * with the Connect protocol — the same implementation and authentication
 * as the gRPC admin API. `curl` can call any RPC with JSON there.
 */
export function createConsoleServer(opts: ConsoleServerOptions): Server {
  const dir = ASSETS_DIR;
  // Read once: the pages are built before the daemon starts and do not change under it.
  const files = new Map<string, { body: Buffer; type: string }>();
  const walk = (sub: string): void => {
    let names: string[];
    try {
      names = readdirSync(join(dir, sub));
    } catch {
      return;
    }
    for (const n of names) {
      const rel = sub === "" ? n : `${sub}/${n}`;
      if (statSync(join(dir, rel)).isDirectory()) walk(rel);
      else files.set(`/${rel}`, { body: readFileSync(join(dir, rel)), type: TYPES[extname(n)] ?? "application/octet-stream" });
    }
  };
  walk("");
  const index = files.get("/index.html");
  const rpcPrefix = `/${AdminService.typeName}/`;

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    const path = (req.url ?? "/").split("?")[0]!;
    if (path.startsWith(rpcPrefix)) return opts.connect(req, res);
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
      return void res.end("method not allowed\n");
    }
    const file = path === "/" ? index : files.get(path);
    if (file === undefined) {
      res.writeHead(index === undefined ? 503 : 404, { "content-type": "text/plain; charset=utf-8" });
      return void res.end(index === undefined ? "the console is not built: run npm run build\n" : "not found\n");
    }
    res.writeHead(200, { "content-type": file.type, "content-length": file.body.length, "cache-control": "no-cache" });
    res.end(req.method === "HEAD" ? undefined : file.body);
  };
  const server = opts.tls === undefined ? createHttpServer(handler) : createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, handler);
  server.requestTimeout = 30000;
  server.headersTimeout = 10000;
  server.keepAliveTimeout = 5000;
  return server;
}
