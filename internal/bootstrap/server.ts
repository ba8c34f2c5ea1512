import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";
import { DEVICE_NAME_RE, PRODUCT_KEY_RE } from "../domain/index.js";
import { FLAG_DISABLED, FLAG_NEAREST, LOOKUP_UNKNOWN_DEVICE, LOOKUP_UNKNOWN_PRODUCT, type RouteTable } from "../routes/index.js";
import type { Metrics } from "../metrics/index.js";
import type { Logger } from "../log/index.js";
import { FormError, parseBootstrapForm } from "./form.js";
import { REPLY, errorReply } from "./envelope.js";
import type { NearestResolver } from "./nearest.js";
import { limitKey, type EdgeLimiter } from "./limits.js";
import type { ClientIpResolver } from "../geo/index.js";

export interface BootstrapServerOptions {
  routeTable: RouteTable;
  metrics: Metrics;
  logger: Logger;
  maxBodyBytes: number;
  requestTimeoutMs: number;
  keepAliveMs: number;
  tls?: { cert: Buffer; key: Buffer };
  /** The nearest strategy (R3); nearest-placed devices are answered by their holder without it. */
  nearest?: NearestResolver;
  /** Connection and per-address request limits. */
  limiter?: EdgeLimiter;
  /** With trusted proxies, requests are limited by the client address they forward. */
  clientIp?: ClientIpResolver;
}

/**
 * Each connection's limiter key, computed at its first request: the peer's
 * address (an IPv6 /64), or `null` when the peer is a trusted proxy and each
 * request is limited by the client address it forwards.
 */
const KEY = Symbol("iotfed.limitKey");
type KeyedSocket = { [KEY]?: string | null; remoteAddress?: string | undefined };

const PATH = "/auth/bootstrap";
const REGIONAL_PREFIX = "/auth/bootstrap/regionId/";
const REGION_RE = /^[A-Za-z0-9-]{1,32}$/;
const FORM_TYPE = "application/x-www-form-urlencoded";

/**
 * The device edge (SPEC "Bootstrap protocol"): `POST /auth/bootstrap` and the
 * SDK's regional form `GET /auth/bootstrap/regionId/{regionId}`, both with a
 * form body. Answers from the RouteTable with pre-serialised bytes; nothing
 * is logged per request.
 */
export function createBootstrapServer(opts: BootstrapServerOptions): Server {
  const { routeTable, metrics, limiter } = opts;
  const counters = new Map<number, { inc(): void }>();
  const countFor = (code: number): { inc(): void } => {
    let c = counters.get(code);
    if (c === undefined) {
      c = metrics.bootstrapRequests.labels(String(code));
      counters.set(code, c);
    }
    return c;
  };
  const ok = countFor(200);

  const send = (res: ServerResponse, status: number, body: Buffer, close = false): void => {
    if (res.headersSent || res.destroyed) return;
    const headers: Record<string, string | number> = { "content-type": "application/json", "content-length": body.length };
    if (close) headers.connection = "close";
    if (status === 405) headers.allow = "POST";
    if (status === 429) headers["retry-after"] = 1;
    res.writeHead(status, headers);
    res.end(body);
    (status === 200 ? ok : countFor(status)).inc();
  };

  const replyFor = (res: ServerResponse, instance: number, started: number): void => {
    const reply = routeTable.reply(instance);
    if (reply === undefined) return send(res, 503, REPLY.noEndpoint);
    send(res, 200, reply);
    metrics.bootstrapDuration.observe((performance.now() - started) / 1000);
  };

  const answer = (req: IncomingMessage, res: ServerResponse, body: Buffer, started: number): void => {
    let form;
    try {
      form = parseBootstrapForm(body);
    } catch (e) {
      if (e instanceof FormError) return send(res, 400, errorReply(400, e.message));
      throw e;
    }
    const { productKey, deviceName, resources } = form;
    if (productKey === undefined || productKey === "") return send(res, 400, REPLY.missingProductKey);
    if (deviceName === undefined || deviceName === "") return send(res, 400, REPLY.missingDeviceName);
    if (!PRODUCT_KEY_RE.test(productKey)) return send(res, 400, REPLY.badProductKey);
    if (!DEVICE_NAME_RE.test(deviceName)) return send(res, 400, REPLY.badDeviceName);
    // The SDK sends exactly `resources=mqtt`: test that before splitting a list.
    if (resources !== undefined && resources !== "" && resources !== "mqtt" && !resources.split(",").some((r) => r.trim() === "mqtt")) {
      return send(res, 400, REPLY.badResources);
    }
    const r = routeTable.lookupEntry(productKey, deviceName);
    if (r >= 0) {
      if ((r & FLAG_DISABLED) !== 0) return send(res, 403, REPLY.disabled);
      const holder = r >>> 8;
      if ((r & FLAG_NEAREST) === 0 || opts.nearest === undefined) return replyFor(res, holder, started);
      const placed = opts.nearest.resolve(productKey, deviceName, holder, req.socket.remoteAddress ?? "", req.rawHeaders);
      if (typeof placed === "number") return replyFor(res, placed, started);
      placed.then(
        (i) => replyFor(res, i, started),
        () => replyFor(res, holder, started),
      );
      return;
    }
    if (r === LOOKUP_UNKNOWN_PRODUCT) return send(res, 404, REPLY.unknownProduct);
    if (r === LOOKUP_UNKNOWN_DEVICE) return send(res, 404, REPLY.unknownDevice);
    return send(res, 500, REPLY.internal);
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    const url = req.url ?? "";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    let wantMethod: string;
    if (path === PATH) wantMethod = "POST";
    else if (path.startsWith(REGIONAL_PREFIX)) {
      wantMethod = "GET";
      if (!REGION_RE.test(path.slice(REGIONAL_PREFIX.length))) return drainThen(req, res, 400, REPLY.badRegion);
    } else return drainThen(req, res, 404, REPLY.notFound);
    if (req.method !== wantMethod && !(wantMethod === "GET" && req.method === "POST")) {
      return drainThen(req, res, 405, REPLY.method);
    }
    // Read the two headers from rawHeaders: `req.headers` would build an object of all of them per request.
    let ctype: string | undefined;
    let declared: string | undefined;
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const h = raw[i]!;
      if (h.length === 12 && ctype === undefined && h.toLowerCase() === "content-type") ctype = raw[i + 1];
      else if (h.length === 14 && declared === undefined && h.toLowerCase() === "content-length") declared = raw[i + 1];
    }
    if (ctype === undefined || !ctype.toLowerCase().startsWith(FORM_TYPE)) return drainThen(req, res, 415, REPLY.contentType);
    if (limiter !== undefined) {
      const sock = req.socket as unknown as KeyedSocket;
      let peerKey = sock[KEY];
      if (peerKey === undefined) {
        const peer = sock.remoteAddress ?? "";
        peerKey = sock[KEY] = opts.clientIp?.trusts(peer) === true ? null : limitKey(peer);
      }
      const key = peerKey ?? limitKey(opts.clientIp!.resolve(sock.remoteAddress ?? "", raw));
      if (!limiter.allow(key)) return drainThen(req, res, 429, REPLY.tooMany);
    }
    if (declared !== undefined && Number(declared) > opts.maxBodyBytes) return refuseTooLarge(req, res);

    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > opts.maxBodyBytes) return refuseTooLarge(req, res);
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (size > opts.maxBodyBytes) return;
      try {
        answer(req, res, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size), started);
      } catch (e) {
        opts.logger.error({ err: e }, "bootstrap handler failed");
        send(res, 500, REPLY.internal);
      }
    });
    req.on("error", () => res.destroy());
  };

  /** Replies at once and discards the body (bounded by the request timeout). */
  const drainThen = (req: IncomingMessage, res: ServerResponse, status: number, body: Buffer): void => {
    send(res, status, body);
    req.resume();
  };
  const refuseTooLarge = (req: IncomingMessage, res: ServerResponse): void => {
    send(res, 413, REPLY.tooLarge, true);
    req.removeAllListeners("data");
    req.resume();
    res.on("finish", () => req.socket.destroySoon());
  };

  // The request timeout is enforced by a periodic sweep; run it often enough
  // that a slow client is cut off close to the configured time.
  const serverOpts = { maxHeaderSize: 8192, connectionsCheckingInterval: Math.max(100, Math.min(1000, opts.requestTimeoutMs / 4)) };
  const server = opts.tls === undefined ? createHttpServer(serverOpts, handler) : createHttpsServer({ ...opts.tls, ...serverOpts }, handler);
  server.requestTimeout = opts.requestTimeoutMs;
  server.headersTimeout = Math.min(opts.requestTimeoutMs, 60000);
  server.keepAliveTimeout = opts.keepAliveMs;
  server.maxRequestsPerSocket = 1000;
  limiter?.attach(server);
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const code = err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : err.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
    const body = code === 408 ? REPLY.timeout : errorReply(code, code === 431 ? "request headers too large" : "malformed HTTP request");
    countFor(code).inc();
    socket.end(`HTTP/1.1 ${code} ${code === 408 ? "Request Timeout" : code === 431 ? "Request Header Fields Too Large" : "Bad Request"}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body.toString()}`);
    // Close it for good once the reply is out: a client that never reads or
    // closes (slowloris) must not keep a half-closed socket here.
    (socket as Socket).destroySoon();
  });
  return server;
}
