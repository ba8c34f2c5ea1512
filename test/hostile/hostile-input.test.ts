import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { AdminService } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { TestDaemon, bootstrap } from "../support/daemon.js";
import { rng } from "../support/rng.js";


/**
 * Sends raw bytes on a fresh connection; the first response's status and
 * body, "closed" when the server closed the connection without one, or
 * "hung" when it neither answered nor closed within the timeout (never an
 * acceptable outcome: a hang is how a request smuggler or a slow client
 * holds a connection).
 */
function rawExchange(port: number, data: Buffer | Buffer[], opts: { timeoutMs?: number; all?: boolean; count?: number } = {}): Promise<{ status: number; bodies: string[]; statuses: number[] } | "closed" | "hung"> {
  return new Promise((resolve) => {
    const sock: Socket = connect(port, "127.0.0.1");
    let buf = Buffer.alloc(0);
    const statuses: number[] = [];
    const bodies: string[] = [];
    const timer = setTimeout(() => finish(true), opts.timeoutMs ?? 5000);
    const finish = (timedOut = false): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(statuses.length > 0 ? { status: statuses[0]!, bodies, statuses } : timedOut ? "hung" : "closed");
    };
    sock.on("data", (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buf.toString("latin1", 0, end);
        const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        statuses.push(Number(head.slice(9, 12)));
        bodies.push(buf.toString("utf8", end + 4, end + 4 + len));
        buf = buf.subarray(end + 4 + len);
        if (!opts.all || statuses.length === opts.count) return finish();
      }
    });
    sock.on("error", () => finish());
    sock.on("close", () => finish());
    sock.on("connect", () => {
      for (const d of Array.isArray(data) ? data : [data]) sock.write(d);
    });
  });
}

const post = (body: string | Buffer, headers: Record<string, string> = {}, method = "POST", path = "/auth/bootstrap"): Buffer => {
  const b = typeof body === "string" ? Buffer.from(body, "latin1") : body;
  const h = { "content-type": "application/x-www-form-urlencoded", "content-length": String(b.length), ...headers };
  const lines = Object.entries(h).map(([k, v]) => `${k}: ${v}`);
  return Buffer.concat([Buffer.from(`${method} ${path} HTTP/1.1\r\nhost: x\r\n${lines.join("\r\n")}\r\n\r\n`, "latin1"), b]);
};

/** One malformed (or at least unusual) bootstrap request of a kind picked by `r`. */
function malformed(r: () => number, i: number): { kind: string; bytes: Buffer } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const randBytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256)));
  const pct = (b: Buffer): string => [...b].map((x) => `%${x.toString(16).padStart(2, "0")}`).join("");
  const kinds = [
    () => ({ kind: "random-values", bytes: post(`productKey=${pct(randBytes(1 + Math.floor(r() * 20)))}&deviceName=${pct(randBytes(1 + Math.floor(r() * 40)))}`) }),
    () => ({ kind: "bad-percent", bytes: post(`productKey=${pick(["%zz", "%", "%4", "a%g1", "%%"])}&deviceName=abcd`) }),
    () => ({ kind: "invalid-utf8", bytes: post(`productKey=a1B2c3D4e5F&deviceName=${pick(["%ff%fe", "%c0%af", "%ed%a0%80", "ab%80cd"])}`) }),
    () => ({ kind: "repeated-field", bytes: post("productKey=a1B2c3D4e5F&deviceName=abcd&deviceName=efgh") }),
    () => ({ kind: "huge-field", bytes: post(`productKey=a1B2c3D4e5F&deviceName=${"x".repeat(4100 + Math.floor(r() * 60000))}`) }),
    () => ({ kind: "huge-declared", bytes: post("", { "content-length": String(10_000_000) }) }),
    () => ({ kind: "content-type", bytes: post("productKey=a1B2c3D4e5F&deviceName=abcd", { "content-type": pick(["text/plain", "application/json", "multipart/form-data; boundary=x", ""]) }) }),
    () => ({ kind: "method", bytes: post("productKey=a1B2c3D4e5F&deviceName=abcd", {}, pick(["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"])) }),
    () => ({ kind: "bad-method-token", bytes: post("x", {}, pick(["G@T", "P OST", "\u0000GET"])) }),
    () => ({ kind: "binary-request-line", bytes: Buffer.concat([randBytes(10 + Math.floor(r() * 200)), Buffer.from("\r\n\r\n")]) }),
    () => ({ kind: "header-overflow", bytes: post("productKey=a", { "x-pad": "p".repeat(9000 + Math.floor(r() * 20000)) }) }),
    () => ({ kind: "nul-in-body", bytes: post(Buffer.from(`productKey=a1B2c3D4e5F&deviceName=ab\u0000cd&n=${i}`, "latin1")) }),
    () => ({ kind: "empty-fields", bytes: post(pick(["", "&&&", "=", "productKey=&deviceName=", "productKey", "deviceName=abcd"])) }),
    () => ({ kind: "long-path", bytes: post("productKey=a1B2c3D4e5F&deviceName=abcd", {}, "POST", `/auth/bootstrap/${"x".repeat(Math.floor(r() * 6000))}`) }),
    () => ({ kind: "bad-region", bytes: post("productKey=a1B2c3D4e5F&deviceName=abcd", {}, "GET", `/auth/bootstrap/regionId/${pick(["..", "a b", "%00", "x".repeat(40)])}`) }),
  ];
  return pick(kinds)();
}

describe("hostile input: the bootstrap edge and the admin API", function () {
  this.timeout(180000);
  let d: TestDaemon;
  let pk: string;
  let accountId: string;
  const rss = async (): Promise<number> => {
    const text = await d.metrics();
    return Number(/^process_resident_memory_bytes (\d+)/m.exec(text)![1]);
  };

  before(async () => {
    d = new TestDaemon({ config: { limits: { bootstrapRequestTimeoutMs: 2000 } } });
    await d.start();
    accountId = (await d.ctlJson(["account", "create", "acme"])).account.accountId as string;
    const a = d.admin(accountId);
    pk = (await a.createProduct({ productName: "Sensor" })).product!.productKey;
    await a.registerDevice({ productKey: pk, deviceName: "good-0001" });
    a.close();
  });
  after(async () => {
    await d?.dispose();
  });

  it("100,000 generated malformed bootstrap requests: each gets a clear 4xx in the envelope, none a 5xx; the daemon stays up and its memory bounded", async () => {
    const port = Number(d.addresses!.bootstrap.split(":").pop());
    const r = rng(0x10fed);
    const total = Number(process.env.HOSTILE_REQUESTS ?? 100_000);
    const byKind = new Map<string, Map<string, number>>();
    const before = await rss();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < total) {
        const i = next++;
        const { kind, bytes } = malformed(r, i);
        const res = await rawExchange(port, bytes);
        assert.notEqual(res, "hung", `${kind}: neither answered nor closed in 5 s`);
        const outcome = typeof res === "string" ? res : String(res.status);
        const m = byKind.get(kind) ?? new Map<string, number>();
        m.set(outcome, (m.get(outcome) ?? 0) + 1);
        byKind.set(kind, m);
        if (typeof res === "string") continue;
        assert.ok(res.status >= 400 && res.status < 500, `${kind}: HTTP ${res.status} ${res.bodies[0]}`);
        const body = JSON.parse(res.bodies[0]!) as { code: number; message: string };
        assert.equal(body.code, res.status, `${kind}: envelope code`);
        assert.ok(body.message.length > 0 && Buffer.byteLength(res.bodies[0]!) < 192, `${kind}: a message, under 192 bytes`);
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    const after = await rss();
    // still answering, exactly
    const ok = await bootstrap(d.addresses!.bootstrap, `productKey=${pk}&deviceName=good-0001`);
    assert.equal(ok.status, 200);
    const summary = [...byKind].map(([k, m]) => `${k} ${[...m].map(([s, n]) => `${s}×${n}`).join(" ")}`).join("; ");
    console.log(`      (${total} requests: ${summary}; RSS ${Math.round(before / 1048576)} → ${Math.round(after / 1048576)} MiB)`);
    // closed without a reply only where HTTP itself is unreadable or the body is cut off at its limit
    for (const [kind, m] of byKind) if (m.has("closed")) assert.ok(["binary-request-line", "bad-method-token", "huge-field", "huge-declared", "header-overflow"].includes(kind), `${kind} closed ${m.get("closed")} times`);
    assert.ok(after - before < 96 * 1048576, `RSS grew ${Math.round((after - before) / 1048576)} MiB`);
  });

  it("pipelined requests, valid and malformed mixed, are answered in order on one connection", async () => {
    const port = Number(d.addresses!.bootstrap.split(":").pop());
    const reqs = [
      post(`productKey=${pk}&deviceName=good-0001`),
      post("productKey=a1B2c3D4e5F&deviceName=abcd&deviceName=x"),
      post(`productKey=${pk}&deviceName=nope-0001`),
      post(`productKey=${pk}&deviceName=good-0001`),
      post("x", { "content-type": "text/plain" }),
      post(`productKey=${pk}&deviceName=good-0001`),
    ];
    const res = await rawExchange(port, Buffer.concat(reqs), { all: true, count: reqs.length, timeoutMs: 3000 });
    assert.ok(typeof res !== "string", `the connection ${typeof res === "string" ? res : "answered"}`);
    if (typeof res === "string") return;
    assert.deepEqual(res.statuses, [200, 400, 404, 200, 415, 200]);
  });

  it("slowloris: 100 connections trickling headers are cut off at the request timeout while others are served", async () => {
    const port = Number(d.addresses!.bootstrap.split(":").pop());
    const started = performance.now();
    const slow = Array.from({ length: 100 }, () =>
      new Promise<number>((resolve) => {
        const s = connect(port, "127.0.0.1");
        const head = "POST /auth/bootstrap HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\nx-slow: ";
        let i = 0;
        const t = setInterval(() => {
          if (s.writable) s.write(i < head.length ? head[i++]! : "a");
        }, 100);
        const done = (): void => {
          clearInterval(t);
          resolve(performance.now() - started);
        };
        s.on("close", done);
        s.on("error", () => {});
        s.resume();
        setTimeout(() => s.destroy(), 15000);
      }),
    );
    await new Promise((r) => setTimeout(r, 500));
    const t0 = performance.now();
    const ok = await bootstrap(d.addresses!.bootstrap, `productKey=${pk}&deviceName=good-0001`);
    const servedMs = performance.now() - t0;
    assert.equal(ok.status, 200);
    assert.ok(servedMs < 1000, `a normal request took ${Math.round(servedMs)} ms`);
    const closedAt = await Promise.all(slow);
    const worst = Math.max(...closedAt);
    assert.ok(worst < 6000, `the slowest trickling connection was cut after ${Math.round(worst)} ms (request timeout 2000 ms)`);
    console.log(`      (100 trickling connections cut within ${Math.round(worst)} ms; a normal request meanwhile took ${Math.round(servedMs)} ms)`);
  });

  it("per-address limits: a flood from one address gets 429 in the envelope with retry-after; connections past the per-address cap are closed", async () => {
    const e = new TestDaemon({ config: { limits: { bootstrapRatePerIp: 50, bootstrapBurstPerIp: 100, bootstrapMaxConnectionsPerIp: 20 } } });
    await e.start();
    try {
      const port = Number(e.addresses!.bootstrap.split(":").pop());
      const one = post("productKey=a1B2c3D4e5F&deviceName=abcd");
      const res = await rawExchange(port, Array.from({ length: 300 }, () => one), { all: true, count: 300, timeoutMs: 5000 });
      assert.ok(typeof res !== "string", `the connection ${typeof res === "string" ? res : "answered"}`);
      if (typeof res === "string") return;
      const limited = res.statuses.filter((s) => s === 429).length;
      assert.ok(limited >= 150 && limited <= 200, `${limited} of 300 got 429 (burst 100, 50/s)`);
      const i = res.statuses.indexOf(429);
      assert.deepEqual(JSON.parse(res.bodies[i]!), { code: 429, data: {}, message: "too many requests from this address; retry later" });
      // connections: 30 opened from one address, 20 kept
      const socks = await Promise.all(
        Array.from({ length: 30 }, () => new Promise<Socket>((resolve) => {
          const s = connect(port, "127.0.0.1", () => resolve(s));
          s.on("error", () => {});
        })),
      );
      await new Promise((r) => setTimeout(r, 300));
      const open = socks.filter((s) => !s.destroyed && s.readyState === "open").length;
      for (const s of socks) s.destroy();
      assert.equal(open, 20);
      const text = await e.metrics();
      assert.match(text, /iotfed_bootstrap_shed_total\{reason="rate"\} [1-9]/);
      assert.match(text, /iotfed_bootstrap_shed_total\{reason="connections_per_ip"\} 10\b/);
    } finally {
      await e.dispose();
    }
  });

  it("the admin API answers undecodable and nonsensical messages, as an account, with a refusal naming what is wrong — never INTERNAL, and never OK for a call that changes something", async () => {
    const r = rng(42);
    const client = new grpc.Client(d.addresses!.admin, grpc.credentials.createInsecure());
    // As the account: the calls reach the handlers (as the operator alone most would stop at "which account?").
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${d.operatorToken}`);
    md.set("x-iotfed-account", accountId);
    const counts = new Map<string, number>();
    /** Calls that only read: random bytes that happen to decode may succeed there. */
    const reads = /^(Query|List|Get|WhoAmI)/;
    try {
      const methods = AdminService.methods;
      for (let i = 0; i < 1000; i++) {
        const m = methods[Math.floor(r() * methods.length)]!;
        // random bytes: mostly not a valid message; sometimes a valid one with garbage fields
        const body = Buffer.from(Array.from({ length: 1 + Math.floor(r() * 64) }, () => Math.floor(r() * 256)));
        const { code, details } = await new Promise<{ code: grpc.status; details: string }>((resolve) =>
          client.makeUnaryRequest(`/${AdminService.typeName}/${m.name}`, (b: Buffer) => b, (b: Buffer) => b, body, md, { deadline: Date.now() + 10000 }, (err) =>
            resolve({ code: err?.code ?? grpc.status.OK, details: err?.details ?? "" }),
          ),
        );
        const name = grpc.status[code];
        counts.set(name, (counts.get(name) ?? 0) + 1);
        assert.ok(code !== grpc.status.INTERNAL && code !== grpc.status.UNKNOWN, `${m.name}: ${name} ${details}`);
        assert.ok(code !== grpc.status.OK || reads.test(m.name), `${m.name} accepted random bytes: ${body.toString("hex")}`);
        assert.ok(code === grpc.status.OK || details.length > 0, `${m.name}: ${name} without a message`);
      }
    } finally {
      client.close();
    }
    assert.ok((counts.get("INVALID_ARGUMENT") ?? 0) > 500, "most random messages are refused as invalid");
    console.log(`      (1,000 random admin messages: ${[...counts].map(([k, n]) => `${k}×${n}`).join(", ")})`);
    const ok = await bootstrap(d.addresses!.bootstrap, `productKey=${pk}&deviceName=good-0001`);
    assert.equal(ok.status, 200);
  });
});
