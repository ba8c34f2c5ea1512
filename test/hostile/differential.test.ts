import assert from "node:assert/strict";
import { connect } from "node:net";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createHttp1Server, type EdgeServer } from "../../internal/bootstrap/index.js";
import { rng } from "../support/rng.js";

/*
 * Differential testing of the device edge's HTTP/1.1 parser against
 * node:http (llhttp): ≥ 100,000 generated requests — valid ones, every
 * refusal the edge makes, request-smuggling patterns, random byte
 * mutations of valid requests — each sent on a fresh connection to both.
 * The edge must never accept a request node:http refuses, and whenever
 * both accept one, they must see the same method, path and body.
 */

const TOTAL = Number(process.env.DIFFERENTIAL_REQUESTS ?? 100_000);
const MAX_BODY = 4096;

interface Seen {
  method: string;
  path: string;
  /** Undefined while (or when never) the body is complete. */
  body: string | undefined;
}

/** The requests each server accepted, by the client's port. */
type Log = Map<number, Seen[]>;

function record(log: Log, port: number, s: Seen): void {
  const list = log.get(port);
  if (list === undefined) log.set(port, [s]);
  else list.push(s);
}

function startEdge(log: Log): Promise<EdgeServer> {
  const server = createHttp1Server({
    maxHeaderBytes: 8192,
    maxBodyBytes: MAX_BODY,
    requestTimeoutMs: 5000,
    keepAliveMs: 5000,
    maxRequestsPerSocket: 1000,
    onRequest: (req, respond) => {
      record(log, req.remotePort, { method: req.method, path: req.path, body: req.body.toString("latin1") });
      respond(200, Buffer.from("{}"));
    },
    onRefused: () => undefined,
    refusal: (status, message) => Buffer.from(JSON.stringify({ code: status, message })),
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

function startNode(log: Log): Promise<HttpServer> {
  // Accepted when node:http emits the request (its head parsed); the body is known once it ends.
  const server = createHttpServer({ maxHeaderSize: 8192 }, (req, res) => {
    const chunks: Buffer[] = [];
    const url = req.url ?? "";
    const q = url.indexOf("?");
    const seen: Seen = { method: req.method ?? "", path: q < 0 ? url : url.slice(0, q), body: undefined };
    record(log, req.socket.remotePort ?? 0, seen);
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen.body = Buffer.concat(chunks).toString("latin1");
      res.writeHead(200, { "content-type": "application/json", "content-length": 2 });
      res.end("{}");
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/** Sends the bytes on a fresh connection, half-closes, and waits for the server to close; the client's port. */
function exchange(port: number, bytes: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const sock = connect(port, "127.0.0.1");
    let local = 0;
    const timer = setTimeout(() => sock.destroy(), 3000);
    sock.on("connect", () => {
      local = sock.localPort ?? 0;
      sock.end(bytes);
    });
    sock.on("data", () => undefined);
    sock.on("error", () => undefined);
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(local);
    });
  });
}

/** The generator: a request of a kind picked by `r`. */
function generate(r: () => number): { kind: string; bytes: Buffer } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const form = (): string => {
    const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.%=&+@:";
    return Array.from({ length: Math.floor(r() * 120) }, () => pick([...chars])).join("");
  };
  const caseOf = (name: string): string => [...name].map((c) => (r() < 0.5 ? c.toUpperCase() : c)).join("");
  const request = (o: { method?: string; target?: string; version?: string; headers?: string[]; body?: string; eol?: string } = {}): string => {
    const eol = o.eol ?? "\r\n";
    const body = o.body ?? form();
    const headers = o.headers ?? [`${caseOf("host")}: x`, `${caseOf("content-type")}: application/x-www-form-urlencoded`, `${caseOf("content-length")}: ${Buffer.byteLength(body, "latin1")}`];
    return `${o.method ?? "POST"} ${o.target ?? "/auth/bootstrap"} ${o.version ?? "HTTP/1.1"}${eol}${headers.join(eol)}${eol}${eol}${body}`;
  };
  const bodyOf = form();
  const cl = `Content-Length: ${bodyOf.length}`;
  const kinds: (() => { kind: string; text: string } | { kind: string; bytes: Buffer })[] = [
    () => ({ kind: "valid", text: request() }),
    () => ({ kind: "valid-regional", text: request({ method: pick(["GET", "POST"]), target: `/auth/bootstrap/regionId/${pick(["cn-shanghai", "eu-central-1", "x"])}` }) }),
    () => ({ kind: "valid-query", text: request({ target: `/auth/bootstrap?${form()}`.replace(/[^\x21-\x7e]/g, "") }) }),
    () => ({ kind: "valid-extra-headers", text: request({ headers: ["Host: x", `X-${caseOf("pad")}: ${"v".repeat(Math.floor(r() * 200))}`, "Content-Type: application/x-www-form-urlencoded", cl, pick(["Connection: close", "Connection: keep-alive", "Accept: */*", "User-Agent: sdk/1.0\t"])], body: bodyOf }) }),
    () => ({ kind: "valid-http10", text: request({ version: "HTTP/1.0", headers: [pick(["", "Host: x"]), "Content-Type: application/x-www-form-urlencoded", cl].filter(Boolean), body: bodyOf }) }),
    () => ({ kind: "valid-pipelined", text: request() + request() }),
    () => ({ kind: "valid-expect", text: request({ headers: ["Host: x", "Expect: 100-continue", "Content-Type: application/x-www-form-urlencoded", cl], body: bodyOf }) }),
    () => ({ kind: "no-body", text: `POST /auth/bootstrap HTTP/1.1\r\nHost: x\r\n\r\n` }),
    () => ({ kind: "te-chunked", text: request({ headers: ["Host: x", pick(["Transfer-Encoding: chunked", "transfer-encoding: chunked", "Transfer-Encoding: gzip, chunked"])], body: `${bodyOf.length.toString(16)}\r\n${bodyOf}\r\n0\r\n\r\n` }) }),
    () => ({ kind: "smuggle-cl-te", text: request({ headers: ["Host: x", cl, "Transfer-Encoding: chunked"], body: `0\r\n\r\n${request()}` }) }),
    () => ({ kind: "smuggle-te-cl", text: request({ headers: ["Host: x", "Transfer-Encoding: chunked", cl], body: `0\r\n\r\n${request()}` }) }),
    () => ({ kind: "smuggle-te-variants", text: request({ headers: ["Host: x", cl, pick(["Transfer-Encoding : chunked", "Transfer-Encoding:\tchunked", "Transfer-Encoding: xchunked", " Transfer-Encoding: chunked", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity"])], body: bodyOf }) }),
    () => ({ kind: "two-cl", text: request({ headers: ["Host: x", cl, pick([cl, `Content-Length: ${bodyOf.length + 1}`, "Content-Length: 0"])], body: bodyOf }) }),
    () => ({ kind: "cl-not-digits", text: request({ headers: ["Host: x", `Content-Length: ${pick([`+${bodyOf.length}`, `-1`, `0x${bodyOf.length.toString(16)}`, `${bodyOf.length},${bodyOf.length}`, `${bodyOf.length} 1`, "", "1e2", `0${bodyOf.length}`, `${bodyOf.length}.0`])}`], body: bodyOf }) }),
    () => ({ kind: "obs-fold", text: request({ headers: ["Host: x", "X-Folded: a", pick([" b", "\tb"]), cl], body: bodyOf }) }),
    () => ({ kind: "bare-lf", text: request({ eol: "\n" }) }),
    () => ({ kind: "bare-lf-one-line", text: request().replace("\r\n", "\n") }),
    () => ({ kind: "bare-cr", text: request().replace("\r\n", pick(["\r", "\r\r\n"])) }),
    () => ({ kind: "nul", text: request({ headers: ["Host: x", `X-Nul: a${pick(["\u0000", "\u0001", "\u007f", "\u001b"])}b`, cl], body: bodyOf }) }),
    () => ({ kind: "space-before-colon", text: request({ headers: [pick(["Host : x", "Host\t: x", "Content-Length : 5"]), cl], body: bodyOf }) }),
    () => ({ kind: "bad-name", text: request({ headers: ["Host: x", pick(["X(y): 1", "X y: 1", ": 1", "X@: 1", "\u00e9: 1"]), cl], body: bodyOf }) }),
    () => ({ kind: "oversized-line", text: request({ target: `/auth/bootstrap?${"q".repeat(8200 + Math.floor(r() * 4000))}` }) }),
    () => ({ kind: "oversized-headers", text: request({ headers: ["Host: x", `X-Pad: ${"p".repeat(8200 + Math.floor(r() * 4000))}`, cl], body: bodyOf }) }),
    () => ({ kind: "oversized-body", text: request({ body: "a".repeat(MAX_BODY + 1 + Math.floor(r() * 1000)) }) }),
    () => ({ kind: "unknown-method", text: request({ method: pick(["FOO", "post", "GETS", "P0ST", "PRI", "SEARCH"]) }) }),
    () => ({ kind: "bad-version", text: request({ version: pick(["HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "http/1.1", "HTTP/1.1 ", "HTTP/11"]) }) }),
    () => ({ kind: "missing-host", text: request({ headers: ["Content-Type: application/x-www-form-urlencoded", cl], body: bodyOf }) }),
    () => ({ kind: "bad-target", text: request({ target: pick(["http://x/auth/bootstrap", "*", "auth/bootstrap", "/auth/boot strap", "/auth/\u00e9", "/a\u0000b", "//x"]) }) }),
    () => ({ kind: "bad-expect", text: request({ headers: ["Host: x", "Expect: 200-ok", cl], body: bodyOf }) }),
    () => ({ kind: "request-line-spaces", text: request().replace("POST /auth", pick(["POST  /auth", " POST /auth", "POST\t/auth"])) }),
    () => {
      // Random byte mutations of a valid request.
      const b = Buffer.from(request(), "latin1");
      const out = [...b];
      for (let m = 0, n = 1 + Math.floor(r() * 4); m < n; m++) {
        const at = Math.floor(r() * out.length);
        const op = r();
        if (op < 0.4) out[at] = Math.floor(r() * 256);
        else if (op < 0.7) out.splice(at, 0, pick([0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x00, Math.floor(r() * 256)]));
        else out.splice(at, 1);
      }
      return { kind: "mutation", bytes: Buffer.from(out) };
    },
  ];
  const k = pick(kinds)();
  return "bytes" in k ? k : { kind: k.kind, bytes: Buffer.from(k.text, "latin1") };
}

describe("the edge's HTTP/1.1 parser against node:http (llhttp), differentially", function () {
  this.timeout(600_000);
  let edge: EdgeServer;
  let node: HttpServer;
  const edgeLog: Log = new Map();
  const nodeLog: Log = new Map();

  before(async () => {
    edge = await startEdge(edgeLog);
    node = await startNode(nodeLog);
  });
  after(() => {
    edge?.closeAllConnections();
    edge?.close();
    node?.closeAllConnections();
    node?.close();
  });

  it(`${TOTAL.toLocaleString("en")} generated requests: the edge accepts none that node:http refuses, and sees what node:http sees in every request both accept`, async () => {
    const r = rng(0xd1ff);
    const edgePort = (edge.address() as AddressInfo).port;
    const nodePort = (node.address() as AddressInfo).port;
    const stats = new Map<string, { n: number; edge: number; node: number; both: number }>();
    let next = 0;
    const problems: string[] = [];
    const worker = async (): Promise<void> => {
      while (next < TOTAL && problems.length < 10) {
        next++;
        const { kind, bytes } = generate(r);
        const [ep, np] = await Promise.all([exchange(edgePort, bytes), exchange(nodePort, bytes)]);
        const e = edgeLog.get(ep) ?? [];
        const n = nodeLog.get(np) ?? [];
        edgeLog.delete(ep);
        nodeLog.delete(np);
        const s = stats.get(kind) ?? { n: 0, edge: 0, node: 0, both: 0 };
        s.n++;
        if (e.length > 0) s.edge++;
        if (n.length > 0) s.node++;
        if (e.length > 0 && n.length > 0) s.both++;
        stats.set(kind, s);
        if (e.length > n.length) problems.push(`${kind}: the edge accepted ${e.length} request(s), node:http ${n.length}: ${JSON.stringify(bytes.toString("latin1").slice(0, 300))}`);
        for (let i = 0; i < Math.min(e.length, n.length); i++) {
          if (e[i]!.method !== n[i]!.method || e[i]!.path !== n[i]!.path || (n[i]!.body !== undefined && e[i]!.body !== n[i]!.body)) {
            problems.push(`${kind}: the edge saw ${JSON.stringify(e[i])}, node:http ${JSON.stringify(n[i])}: ${JSON.stringify(bytes.toString("latin1").slice(0, 300))}`);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: 48 }, worker));
    const summary = [...stats].sort().map(([k, s]) => `${k} ${s.n} (edge ${s.edge}, node ${s.node})`).join("; ");
    console.log(`      (${next.toLocaleString("en")} requests: ${summary})`);
    assert.deepEqual(problems, []);
    // The generator reaches both sides: valid requests accepted by both, each refusal class refused by the edge.
    assert.ok(stats.get("valid")!.both === stats.get("valid")!.n, "every plain valid request accepted by both");
    for (const k of ["te-chunked", "smuggle-cl-te", "smuggle-te-cl", "smuggle-te-variants", "two-cl", "obs-fold", "bare-lf", "bare-lf-one-line", "bare-cr", "nul", "space-before-colon", "bad-name", "oversized-line", "oversized-headers", "oversized-body", "unknown-method", "bad-version", "missing-host", "bad-expect", "request-line-spaces"]) {
      assert.equal(stats.get(k)?.edge ?? 0, 0, `${k}: the edge accepts none`);
    }
  });
});
