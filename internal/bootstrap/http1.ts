import { createServer as createNetServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";

/**
 * A purpose-built HTTP/1.1 server for the device edge (docs/guides/
 * device-edge.md "The HTTP edge"): the two bootstrap requests only, parsed
 * from bytes, strict. It builds no string it does not need: the method and
 * path, and header values only when asked for (`header()`, `rawHeaders()`).
 *
 * Accepted: `METHOD SP origin-form SP HTTP/1.1|HTTP/1.0 CRLF`, headers
 * `token ":" OWS value OWS CRLF`, a body of `Content-Length` bytes;
 * keep-alive (HTTP/1.0 closes unless it asks otherwise), pipelining
 * (answered in order), `Expect: 100-continue`. Refused with 400 and the
 * connection closed — anything a request smuggler or a sloppy client could
 * make ambiguous: `Transfer-Encoding`, two `Content-Length`s or one that is
 * not digits, obs-fold, a bare LF or CR, NUL or another control byte, a
 * space before a colon, an unknown method, a target that is not a path, a
 * missing `Host` in HTTP/1.1; 431 for a head over `maxHeaderBytes`, 413 for
 * a body over `maxBodyBytes`, 417 for another expectation, 408 for a
 * request not complete within `requestTimeoutMs` (slowloris).
 */

export interface EdgeRequest {
  /** GET or POST (other known methods reach the handler to be refused with 405). */
  readonly method: string;
  /** The target up to `?`. */
  readonly path: string;
  readonly body: Buffer;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The same object for every request of one connection (per-connection state can be kept against it). */
  readonly connection: object;
  /** A header's value (the first), by its lower-case name; undefined when absent. */
  header(lowerName: string): string | undefined;
  /** Whether the header (the first of that name) is present and starts with `lowerPrefix`, case-insensitively; no string is built. */
  headerStartsWith(lowerName: string, lowerPrefix: string): boolean;
  /** All headers as `[name, value, name, value, …]`, as `node:http` gives them. */
  rawHeaders(): string[];
}

/** Answers a request: the status, a JSON body, and whether to close the connection after it. */
export type Respond = (status: number, body: Buffer, close?: boolean) => void;

export interface Http1Options {
  maxHeaderBytes: number;
  maxBodyBytes: number;
  requestTimeoutMs: number;
  keepAliveMs: number;
  maxRequestsPerSocket: number;
  tls?: { cert: Buffer; key: Buffer };
  /** Each request, in order per connection: the next one waits until this one is answered. */
  onRequest(req: EdgeRequest, respond: Respond): void;
  /** A request refused before it reached onRequest (unreadable HTTP, too large, timed out). */
  onRefused(status: number): void;
  /** The body of a refusal (the envelope): `status` and what was wrong. */
  refusal(status: number, message: string): Buffer;
}

const KNOWN_METHODS = new Set(["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"]);
const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  417: "Expectation Failed",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** tchar (RFC 9110): the bytes a header name or method may hold. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;
/** A field value's bytes: visible ASCII, space, tab, obs-text. */
const VALUE = new Uint8Array(256);
for (let c = 0x20; c < 0x7f; c++) VALUE[c] = 1;
VALUE[0x09] = 1;
for (let c = 0x80; c < 0x100; c++) VALUE[c] = 1;
/** A request target's bytes: visible ASCII (no space, no control, no obs-text). */
const TARGET = new Uint8Array(256);
for (let c = 0x21; c < 0x7f; c++) TARGET[c] = 1;

const CRLF2 = Buffer.from("\r\n\r\n");
/** Buffer's own latin1 slice (what toString("latin1", …) calls, without its checks). */
type Latin1 = { latin1Slice(start: number, end: number): string };
const latin1 = (b: Buffer, start: number, end: number): string => (b as unknown as Latin1).latin1Slice(start, end);
const CONTINUE = Buffer.from("HTTP/1.1 100 Continue\r\n\r\n");

/** A name compared with a lower-case literal, byte by byte, case-insensitively. */
function nameIs(buf: Buffer, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) if ((buf[start + i]! | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

class BadRequest extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** One parsed head: the request line, header line offsets, and what the server itself acts on. */
interface Head {
  method: string;
  path: string;
  http10: boolean;
  contentLength: number;
  keepAlive: boolean;
  expectContinue: boolean;
  /** Offsets of each header line in `buf`: name start, name end, value start, value end. */
  lines: number[];
  buf: Buffer;
}

function parseHead(buf: Buffer, end: number, maxBodyBytes: number): Head {
  // Any CR must be followed by LF, and any LF preceded by CR.
  for (let i = 0; i < end; i++) {
    const c = buf[i]!;
    if (c === 0x0a && (i === 0 || buf[i - 1] !== 0x0d)) throw new BadRequest(400, "bare LF in the request head");
    if (c === 0x0d && buf[i + 1] !== 0x0a) throw new BadRequest(400, "bare CR in the request head");
  }
  // Request line.
  const lineEnd = buf.indexOf(0x0d, 0);
  const sp1 = buf.indexOf(0x20, 0);
  if (sp1 <= 0 || sp1 > lineEnd) throw new BadRequest(400, "malformed request line");
  for (let i = 0; i < sp1; i++) if (TCHAR[buf[i]!] === 0) throw new BadRequest(400, "malformed method");
  const method = latin1(buf, 0, sp1);
  if (!KNOWN_METHODS.has(method)) throw new BadRequest(400, "unknown method");
  const sp2 = buf.indexOf(0x20, sp1 + 1);
  if (sp2 < 0 || sp2 > lineEnd || sp2 === sp1 + 1) throw new BadRequest(400, "malformed request line");
  if (buf[sp1 + 1] !== 0x2f) throw new BadRequest(400, "the request target must be a path");
  let q = sp2;
  for (let i = sp1 + 1; i < sp2; i++) {
    const c = buf[i]!;
    if (TARGET[c] === 0) throw new BadRequest(400, "malformed request target");
    if (c === 0x3f && q === sp2) q = i;
  }
  if (lineEnd - sp2 - 1 !== 8 || !latin1(buf, sp2 + 1, sp2 + 8).startsWith("HTTP/1.") || (buf[sp2 + 8] !== 0x31 && buf[sp2 + 8] !== 0x30)) {
    throw new BadRequest(400, "the version must be HTTP/1.1 or HTTP/1.0");
  }
  const http10 = buf[sp2 + 8] === 0x30;
  const path = latin1(buf, sp1 + 1, q);
  // Header lines.
  const lines: number[] = [];
  let contentLength = -1;
  let keepAlive = !http10;
  let expectContinue = false;
  let host = false;
  let at = lineEnd + 2;
  while (at < end) {
    const le = buf.indexOf(0x0d, at);
    const c0 = buf[at]!;
    if (c0 === 0x20 || c0 === 0x09) throw new BadRequest(400, "obs-fold in a header");
    let colon = at;
    while (colon < le && TCHAR[buf[colon]!] === 1) colon++;
    if (colon === at || buf[colon] !== 0x3a) throw new BadRequest(400, "malformed header name");
    let vs = colon + 1;
    while (vs < le && (buf[vs] === 0x20 || buf[vs] === 0x09)) vs++;
    let ve = le;
    while (ve > vs && (buf[ve - 1] === 0x20 || buf[ve - 1] === 0x09)) ve--;
    for (let i = vs; i < ve; i++) if (VALUE[buf[i]!] === 0) throw new BadRequest(400, "a control byte in a header value");
    lines.push(at, colon, vs, ve);
    const n = colon - at;
    if (n === 14 && nameIs(buf, at, colon, "content-length")) {
      if (contentLength >= 0) throw new BadRequest(400, "two Content-Length headers");
      if (ve === vs || ve - vs > 15) throw new BadRequest(400, "malformed Content-Length");
      let v = 0;
      for (let i = vs; i < ve; i++) {
        const d = buf[i]! - 0x30;
        if (d < 0 || d > 9) throw new BadRequest(400, "malformed Content-Length");
        v = v * 10 + d;
      }
      contentLength = v;
    } else if (n === 17 && nameIs(buf, at, colon, "transfer-encoding")) {
      throw new BadRequest(400, "Transfer-Encoding is not accepted here: send Content-Length");
    } else if (n === 4 && nameIs(buf, at, colon, "host")) {
      if (host) throw new BadRequest(400, "two Host headers");
      host = true;
    } else if (n === 10 && nameIs(buf, at, colon, "connection")) {
      const v = latin1(buf, vs, ve).toLowerCase();
      for (const t of v.split(",")) {
        const tok = t.trim();
        if (tok === "close") keepAlive = false;
        else if (tok === "keep-alive") keepAlive = true;
      }
    } else if (n === 6 && nameIs(buf, at, colon, "expect")) {
      if (latin1(buf, vs, ve).toLowerCase() !== "100-continue") throw new BadRequest(417, "the only expectation met here is 100-continue");
      expectContinue = true;
    }
    at = le + 2;
  }
  if (!http10 && !host) throw new BadRequest(400, "HTTP/1.1 needs a Host header");
  if (contentLength > maxBodyBytes) throw new BadRequest(413, "request body too large");
  return { method, path, http10, contentLength: Math.max(0, contentLength), keepAlive, expectContinue, lines, buf };
}

class Request implements EdgeRequest {
  constructor(
    private readonly head: Head,
    readonly body: Buffer,
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly connection: object,
  ) {}
  get method(): string {
    return this.head.method;
  }
  get path(): string {
    return this.head.path;
  }
  header(lowerName: string): string | undefined {
    const { lines, buf } = this.head;
    for (let i = 0; i < lines.length; i += 4) if (nameIs(buf, lines[i]!, lines[i + 1]!, lowerName)) return latin1(buf, lines[i + 2]!, lines[i + 3]!);
    return undefined;
  }
  headerStartsWith(lowerName: string, lowerPrefix: string): boolean {
    const { lines, buf } = this.head;
    for (let i = 0; i < lines.length; i += 4) {
      if (!nameIs(buf, lines[i]!, lines[i + 1]!, lowerName)) continue;
      const vs = lines[i + 2]!;
      if (lines[i + 3]! - vs < lowerPrefix.length) return false;
      for (let k = 0; k < lowerPrefix.length; k++) {
        const c = buf[vs + k]!;
        if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== lowerPrefix.charCodeAt(k)) return false;
      }
      return true;
    }
    return false;
  }
  rawHeaders(): string[] {
    const { lines, buf } = this.head;
    const out: string[] = [];
    for (let i = 0; i < lines.length; i += 4) out.push(latin1(buf, lines[i]!, lines[i + 1]!), latin1(buf, lines[i + 2]!, lines[i + 3]!));
    return out;
  }
}

/** The bytes of a response; the common ones (a reply body on keep-alive) are kept. */
function responseBytes(status: number, body: Buffer, close: boolean, http10KeepAlive: boolean): Buffer {
  const extra = status === 405 ? "allow: POST\r\n" : status === 429 ? "retry-after: 1\r\n" : "";
  const conn = close ? "connection: close\r\n" : http10KeepAlive ? "connection: keep-alive\r\n" : "";
  const head = `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n${extra}${conn}\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), body]);
}

interface Conn {
  socket: Socket;
  buf: Buffer | undefined;
  /** Where to go on looking for the end of the head. */
  scanned: number;
  head: Head | undefined;
  /** A request is being answered: parsing waits. */
  busy: boolean;
  /** When the request in progress started (its first byte); 0 between requests. */
  started: number;
  lastActive: number;
  requests: number;
  closing: boolean;
  continued: boolean;
}

/** The edge's server: a `net.Server` that also closes its connections as `node:http`'s does at shutdown. */
export type EdgeServer = Server & {
  /** Cuts requests past their time (408) and idle keep-alive connections (run on a timer). */
  sweep(): void;
  /** Closes the connections between requests now, and every other one once its request is answered. */
  closeIdleConnections(): void;
  closeAllConnections(): void;
};

export function createHttp1Server(opts: Http1Options): EdgeServer {
  const conns = new Set<Conn>();
  let draining = false;
  const cache = new WeakMap<Buffer, Buffer>();
  const cacheClose = new WeakMap<Buffer, Buffer>();

  const write = (c: Conn, status: number, body: Buffer, close: boolean, http10KeepAlive = false): void => {
    if (c.socket.destroyed) return;
    let bytes: Buffer;
    if (http10KeepAlive) bytes = responseBytes(status, body, close, true);
    else {
      const m = close ? cacheClose : cache;
      bytes = m.get(body) ?? responseBytes(status, body, close, false);
      m.set(body, bytes);
    }
    c.socket.write(bytes);
    if (close) {
      c.closing = true;
      c.socket.end();
      c.socket.destroySoon();
    }
  };
  const refuse = (c: Conn, status: number, message: string): void => {
    opts.onRefused(status);
    c.buf = undefined;
    write(c, status, opts.refusal(status, message), true);
  };

  function pump(c: Conn): void {
    while (!c.busy && !c.closing && c.buf !== undefined && c.buf.length > 0) {
      const buf = c.buf;
      if (c.started === 0) c.started = performance.now();
      if (c.head === undefined) {
        const end = buf.indexOf(CRLF2, Math.max(0, c.scanned - 3));
        if (end < 0) {
          if (buf.length > opts.maxHeaderBytes) return refuse(c, 431, "request headers too large");
          c.scanned = buf.length;
          return;
        }
        if (end + 4 > opts.maxHeaderBytes) return refuse(c, 431, "request headers too large");
        try {
          c.head = parseHead(buf, end + 2, opts.maxBodyBytes);
        } catch (e) {
          if (e instanceof BadRequest) return refuse(c, e.status, e.message);
          throw e;
        }
        c.scanned = 0;
        c.buf = buf.subarray(end + 4);
        c.continued = false;
      }
      const head = c.head;
      const have = c.buf.length;
      if (have < head.contentLength) {
        if (head.expectContinue && !c.continued) {
          c.continued = true;
          c.socket.write(CONTINUE);
        }
        return;
      }
      const body = c.buf.subarray(0, head.contentLength);
      c.buf = c.buf.length === head.contentLength ? undefined : c.buf.subarray(head.contentLength);
      c.head = undefined;
      c.busy = true;
      c.requests++;
      const last = !head.keepAlive || c.requests >= opts.maxRequestsPerSocket;
      let answered = false;
      opts.onRequest(new Request(head, body, c.socket.remoteAddress ?? "", c.socket.remotePort ?? 0, c), (status, reply, close = false) => {
        if (answered) return;
        answered = true;
        const closeNow = close || last || draining;
        write(c, status, reply, closeNow, head.http10 && !closeNow);
        c.busy = false;
        c.started = 0;
        c.lastActive = performance.now();
        if (c.socket.isPaused()) c.socket.resume();
        if (!closeNow && c.buf !== undefined) {
          // Pipelined requests wait while the client does not read its answers.
          if (c.socket.writableLength > 64 * 1024) c.socket.once("drain", () => pump(c));
          else pump(c);
        }
      });
    }
  }

  const onSocket = (socket: Socket): void => {
    socket.setNoDelay(true);
    const c: Conn = { socket, buf: undefined, scanned: 0, head: undefined, busy: false, started: 0, lastActive: performance.now(), requests: 0, closing: false, continued: false };
    conns.add(c);
    socket.on("data", (chunk: Buffer) => {
      if (c.closing) return;
      c.buf = c.buf === undefined || c.buf.length === 0 ? chunk : Buffer.concat([c.buf, chunk]);
      if (c.started === 0) c.started = performance.now();
      // While a request is answered, pipelined bytes wait; past a bound, the socket stops reading.
      if (c.busy) {
        if (c.buf.length > 256 * 1024) socket.pause();
        return;
      }
      pump(c);
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => conns.delete(c));
  };

  const server = (opts.tls === undefined ? createNetServer({ noDelay: true }, onSocket) : createTlsServer({ cert: opts.tls.cert, key: opts.tls.key }, onSocket)) as EdgeServer;
  server.closeIdleConnections = (): void => {
    draining = true;
    for (const c of conns) if (!c.busy && c.started === 0) c.socket.destroy();
  };
  server.closeAllConnections = (): void => {
    draining = true;
    for (const c of conns) c.socket.destroy();
  };
  server.sweep = (): void => {
    const t = performance.now();
    for (const c of conns) {
      if (c.closing) continue;
      if (c.started !== 0 && !c.busy && t - c.started > opts.requestTimeoutMs) refuse(c, 408, "request timeout");
      else if (c.started === 0 && !c.busy && t - c.lastActive > opts.keepAliveMs) c.socket.destroy();
    }
  };
  const timer = setInterval(() => server.sweep(), Math.max(100, Math.min(1000, opts.requestTimeoutMs / 4)));
  timer.unref();
  server.on("close", () => clearInterval(timer));
  return server;
}
