import { DEVICE_NAME_RE, PRODUCT_KEY_RE } from "../domain/index.js";
import { FLAG_DISABLED, FLAG_NEAREST, LOOKUP_UNKNOWN_DEVICE, LOOKUP_UNKNOWN_PRODUCT, type RouteTable } from "../routes/index.js";
import type { EdgeMetrics } from "../metrics/index.js";
import type { Logger } from "../log/index.js";
import { FormError, parseBootstrapForm } from "./form.js";
import { REPLY, errorReply } from "./envelope.js";
import type { NearestResolver } from "./nearest.js";
import { limitKey, type EdgeLimiter } from "./limits.js";
import type { ClientIpResolver } from "../geo/index.js";
import { createHttp1Server, type EdgeRequest, type EdgeServer, type Respond } from "./http1.js";

export interface BootstrapServerOptions {
  routeTable: RouteTable;
  metrics: Pick<EdgeMetrics, "bootstrapRequests" | "bootstrapDuration">;
  logger: Logger;
  maxBodyBytes: number;
  requestTimeoutMs: number;
  keepAliveMs: number;
  tls?: { cert: Buffer; key: Buffer };
  /** The nearest strategy (R3); nearest-placed devices are answered by their holder without it. */
  nearest?: Pick<NearestResolver, "resolve">;
  /** Connection and per-address request limits. */
  limiter?: EdgeLimiter;
  /** With trusted proxies, requests are limited by the client address they forward. */
  clientIp?: ClientIpResolver;
}

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
export function createBootstrapServer(opts: BootstrapServerOptions): EdgeServer {
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

  const send = (respond: Respond, status: number, body: Buffer, close = false): void => {
    respond(status, body, close);
    (status === 200 ? ok : countFor(status)).inc();
  };

  const replyFor = (respond: Respond, instance: number, started: number): void => {
    const reply = routeTable.reply(instance);
    if (reply === undefined) return send(respond, 503, REPLY.noEndpoint);
    send(respond, 200, reply);
    metrics.bootstrapDuration.observe((performance.now() - started) / 1000);
  };

  const answer = (req: EdgeRequest, respond: Respond, started: number): void => {
    let form;
    try {
      form = parseBootstrapForm(req.body);
    } catch (e) {
      if (e instanceof FormError) return send(respond, 400, errorReply(400, e.message));
      throw e;
    }
    const { productKey, deviceName, resources } = form;
    if (productKey === undefined || productKey === "") return send(respond, 400, REPLY.missingProductKey);
    if (deviceName === undefined || deviceName === "") return send(respond, 400, REPLY.missingDeviceName);
    if (!PRODUCT_KEY_RE.test(productKey)) return send(respond, 400, REPLY.badProductKey);
    if (!DEVICE_NAME_RE.test(deviceName)) return send(respond, 400, REPLY.badDeviceName);
    // The SDK sends exactly `resources=mqtt`: test that before splitting a list.
    if (resources !== undefined && resources !== "" && resources !== "mqtt" && !resources.split(",").some((r) => r.trim() === "mqtt")) {
      return send(respond, 400, REPLY.badResources);
    }
    const r = routeTable.lookupEntry(productKey, deviceName);
    if (r >= 0) {
      if ((r & FLAG_DISABLED) !== 0) return send(respond, 403, REPLY.disabled);
      const holder = r >>> 8;
      if ((r & FLAG_NEAREST) === 0 || opts.nearest === undefined) return replyFor(respond, holder, started);
      const placed = opts.nearest.resolve(productKey, deviceName, holder, req.remoteAddress, req.rawHeaders());
      if (typeof placed === "number") return replyFor(respond, placed, started);
      placed.then(
        (i) => replyFor(respond, i, started),
        () => replyFor(respond, holder, started),
      );
      return;
    }
    if (r === LOOKUP_UNKNOWN_PRODUCT) return send(respond, 404, REPLY.unknownProduct);
    if (r === LOOKUP_UNKNOWN_DEVICE) return send(respond, 404, REPLY.unknownDevice);
    return send(respond, 500, REPLY.internal);
  };

  /** Per connection, its limiter key: the peer's address (an IPv6 /64), or null behind a trusted proxy (each request by the client it forwards). */
  const peerKeys = new WeakMap<object, string | null>();
  const keyOf = (req: EdgeRequest): string => {
    let peerKey = peerKeys.get(req.connection);
    if (peerKey === undefined) {
      peerKey = opts.clientIp?.trusts(req.remoteAddress) === true ? null : limitKey(req.remoteAddress);
      peerKeys.set(req.connection, peerKey);
    }
    return peerKey ?? limitKey(opts.clientIp!.resolve(req.remoteAddress, req.rawHeaders()));
  };

  const onRequest = (req: EdgeRequest, respond: Respond): void => {
    const started = performance.now();
    const path = req.path;
    let wantMethod: string;
    if (path === PATH) wantMethod = "POST";
    else if (path.startsWith(REGIONAL_PREFIX)) {
      wantMethod = "GET";
      if (!REGION_RE.test(path.slice(REGIONAL_PREFIX.length))) return send(respond, 400, REPLY.badRegion);
    } else return send(respond, 404, REPLY.notFound);
    if (req.method !== wantMethod && !(wantMethod === "GET" && req.method === "POST")) return send(respond, 405, REPLY.method);
    if (!req.headerStartsWith("content-type", FORM_TYPE)) return send(respond, 415, REPLY.contentType);
    if (limiter !== undefined && !limiter.allow(keyOf(req))) return send(respond, 429, REPLY.tooMany);
    try {
      answer(req, respond, started);
    } catch (e) {
      opts.logger.error({ err: e }, "bootstrap handler failed");
      send(respond, 500, REPLY.internal);
    }
  };

  const server = createHttp1Server({
    maxHeaderBytes: 8192,
    maxBodyBytes: opts.maxBodyBytes,
    requestTimeoutMs: opts.requestTimeoutMs,
    keepAliveMs: opts.keepAliveMs,
    maxRequestsPerSocket: 1000,
    ...(opts.tls === undefined ? {} : { tls: opts.tls }),
    onRequest,
    onRefused: (status) => countFor(status).inc(),
    refusal: (status, message) => (status === 408 ? REPLY.timeout : status === 413 ? REPLY.tooLarge : errorReply(status, message)),
  });
  limiter?.attach(server);
  return server;
}
