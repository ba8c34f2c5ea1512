import assert from "node:assert/strict";
import { connect } from "node:net";
import { TestDaemon, bootstrap, seedAccount } from "../support/daemon.js";
import { splitHostPort } from "../../internal/daemon/index.js";

/** Writes raw bytes to the bootstrap port and collects the reply until the server closes or `idleMs` passes. */
function raw(addr: string, chunks: (string | Buffer)[], opts: { gapMs?: number; idleMs?: number } = {}): Promise<string> {
  const { host, port } = splitHostPort(addr);
  return new Promise((resolve, reject) => {
    const s = connect(port, host);
    let out = "";
    let idle: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        s.destroy();
        resolve(out);
      }, opts.idleMs ?? 3000);
    };
    s.setEncoding("utf8");
    s.on("data", (c: string) => {
      out += c;
      arm();
    });
    s.on("close", () => {
      clearTimeout(idle);
      resolve(out);
    });
    s.on("error", (e: NodeJS.ErrnoException) => (e.code === "ECONNRESET" ? resolve(out) : reject(e)));
    s.on("connect", () => {
      arm();
      void (async () => {
        for (const c of chunks) {
          if (s.destroyed) break;
          s.write(c);
          if (opts.gapMs !== undefined) await new Promise((r) => setTimeout(r, opts.gapMs));
        }
      })();
    });
  });
}

describe("single instance: the bootstrap edge", function () {
  this.timeout(60000);
  const d = new TestDaemon({ config: { limits: { bootstrapRequestTimeoutMs: 1500 }, instance: { mqtt: { host: "iot-as-mqtt.cn-shanghai.example.com", port: 1883 } } } });
  let pk: string;
  let addr: string;

  before(async () => {
    await d.start();
    addr = d.addresses!.bootstrap;
    const a = await seedAccount(d, "acme");
    pk = (await d.ctlJson(["product", "create", "-n", "Lamp"], { token: a.token })).product.productKey;
    await d.ctlJson(["device", "register", pk, "lamp-0001"], { token: a.token });
    await d.ctlJson(["device", "register", pk, "lamp.2@x:y"], { token: a.token });
  });
  after(async () => {
    await d.dispose();
  });

  it("answers the device SDK's exact request with the seed's envelope in under 192 bytes", async () => {
    const r = await bootstrap(addr, `productKey=${pk}&deviceName=lamp-0001&clientId=${pk}.lamp-0001&resources=mqtt`);
    assert.equal(r.status, 200);
    assert.equal(r.raw.toString(), '{"code":200,"data":{"resources":{"mqtt":{"host":"iot-as-mqtt.cn-shanghai.example.com","port":1883}}},"message":"success"}');
    assert.ok(r.raw.length < 192, `${r.raw.length} bytes`);
  });

  it("accepts the optional fields and DeviceNames with . @ : raw or percent-encoded", async () => {
    for (const dn of ["lamp.2@x:y", "lamp.2%40x%3Ay"]) {
      const r = await bootstrap(addr, `productKey=${pk}&deviceName=${dn}&version=default&timestamp=1700000000000&clientId=abc`);
      assert.equal(r.status, 200, dn);
    }
  });

  it("takes the content type in any case and with parameters", async () => {
    for (const ct of ["APPLICATION/X-WWW-FORM-URLENCODED", "Application/x-www-form-urlencoded; charset=UTF-8"]) {
      const r = await bootstrap(addr, `productKey=${pk}&deviceName=lamp-0001`, { contentType: ct });
      assert.equal(r.status, 200, ct);
    }
    const r = await bootstrap(addr, `productKey=${pk}&deviceName=lamp-0001`, { contentType: "application/x-www-form" });
    assert.equal(r.status, 415, "a prefix of the type is not the type");
  });

  it("serves the SDK's regional form GET /auth/bootstrap/regionId/{id}", async () => {
    const r = await raw(addr, [
      `GET /auth/bootstrap/regionId/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded;charset=utf-8\r\nContent-Length: ${`productKey=${pk}&deviceName=lamp-0001`.length}\r\nConnection: close\r\n\r\nproductKey=${pk}&deviceName=lamp-0001`,
    ]);
    assert.match(r, /^HTTP\/1\.1 200/);
    assert.match(r, /"host":"iot-as-mqtt/);
  });

  const refusals: [string, () => ReturnType<typeof bootstrap>, number, RegExp][] = [
    ["a missing productKey", () => bootstrap(addr, "deviceName=lamp-0001"), 400, /productKey is required/],
    ["a missing deviceName", () => bootstrap(addr, `productKey=${pk}`), 400, /deviceName is required/],
    ["an empty body", () => bootstrap(addr, ""), 400, /productKey is required/],
    ["a malformed productKey", () => bootstrap(addr, "productKey=abc&deviceName=lamp-0001"), 400, /productKey must be/],
    ["a malformed deviceName", () => bootstrap(addr, `productKey=${pk}&deviceName=a%20b`), 400, /deviceName must be/],
    ["a bad percent-encoding", () => bootstrap(addr, `productKey=${pk}&deviceName=lamp%zz`), 400, /malformed percent-encoding/],
    ["a repeated field", () => bootstrap(addr, `productKey=${pk}&deviceName=lamp-0001&deviceName=lamp-0002`), 400, /given more than once/],
    ["an overlong clientId", () => bootstrap(addr, `productKey=${pk}&deviceName=lamp-0001&clientId=${"c".repeat(65)}`), 400, /clientId is too long/],
    ["resources without mqtt", () => bootstrap(addr, `productKey=${pk}&deviceName=lamp-0001&resources=coap`), 400, /only mqtt/],
    ["an unknown product", () => bootstrap(addr, "productKey=zzzzzzzzzzz&deviceName=lamp-0001"), 404, /product not found/],
    ["an unknown device", () => bootstrap(addr, `productKey=${pk}&deviceName=lamp-9999`), 404, /device not found/],
    ["a wrong method", () => bootstrap(addr, "", { method: "PUT" }), 405, /method not allowed/],
    ["GET on the POST path", () => bootstrap(addr, "", { method: "GET" }), 405, /method not allowed/],
    ["a JSON content type", () => bootstrap(addr, JSON.stringify({ productKey: pk }), { contentType: "application/json" }), 415, /Content-Type/],
    ["no content type", () => bootstrap(addr, `productKey=${pk}&deviceName=lamp-0001`, { contentType: null }), 415, /Content-Type/],
    ["an unknown path", () => bootstrap(addr, "", { path: "/auth/other" }), 404, /no such path/],
    ["a body over the 4 KiB cap", () => bootstrap(addr, `productKey=${pk}&deviceName=lamp-0001&x=${"y".repeat(5000)}`), 413, /too large/],
  ];
  for (const [what, send, status, re] of refusals) {
    it(`refuses ${what} with ${status} in the same envelope`, async () => {
      const r = await send();
      assert.equal(r.status, status);
      assert.equal(r.json.code, status);
      assert.match(r.json.message, re);
      assert.ok(r.raw.length < 192);
    });
  }

  it("refuses a chunked body (Transfer-Encoding: the request-smuggling ambiguity) with 400 and closes", async () => {
    const chunk = "a".repeat(1000);
    const head = "POST /auth/bootstrap HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n";
    const chunks = [head, ...Array.from({ length: 10 }, () => `${(1000).toString(16)}\r\n${chunk}\r\n`)];
    const r = await raw(addr, chunks, { gapMs: 5 });
    assert.match(r, /^HTTP\/1\.1 400 [^]*connection: close[^]*Transfer-Encoding is not accepted here/);
  });

  it("answers pipelined requests in order on one connection", async () => {
    const body = `productKey=${pk}&deviceName=lamp-0001`;
    const req = (b: string) => `POST /auth/bootstrap HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${b.length}\r\n\r\n${b}`;
    const r = await raw(addr, [req(body) + req("productKey=zzzzzzzzzzz&deviceName=lamp-0001") + req(body)], { idleMs: 500 });
    const statuses = [...r.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    assert.deepEqual(statuses, ["200", "404", "200"]);
  });

  it("a slow client (slowloris) is cut off by the request timeout with 408, and others are still served", async () => {
    const started = Date.now();
    const slow = raw(addr, ["POST /auth/bootstrap HTTP/1.1\r\n", "Host: x\r\n", "Content-Type: application/x-www-form-urlencoded\r\n", "Content-Length: 40\r\n\r\n", "productKey="], { gapMs: 400, idleMs: 6000 });
    const meanwhile = await bootstrap(addr, `productKey=${pk}&deviceName=lamp-0001`);
    assert.equal(meanwhile.status, 200);
    const r = await slow;
    assert.match(r, /408/);
    assert.ok(Date.now() - started < 5000, "bounded by the configured 1.5 s request timeout");
  });

  it("garbage that is not HTTP gets 400 and a closed connection", async () => {
    const r = await raw(addr, ["\x16\x03\x01\x00\xa5garbage\r\n\r\n"]);
    assert.match(r, /^HTTP\/1\.1 400/);
  });

  it("counts replies by code in /metrics and stays healthy and ready", async () => {
    const m = await d.metrics();
    assert.match(m, /iotfed_bootstrap_requests_total\{code="200"\} \d+/);
    assert.match(m, /iotfed_bootstrap_requests_total\{code="404"\} \d+/);
    assert.match(m, /iotfed_bootstrap_requests_total\{code="413"\} \d+/);
    assert.match(m, /iotfed_bootstrap_request_duration_seconds_count \d+/);
    assert.match(m, /iotfed_route_table_entries\{kind="device"\} 2/);
    assert.match(m, /iotfed_devices\{status="inactive"\} 2/);
    assert.match(m, /iotfed_admin_requests_total\{method="RegisterDevice",code="OK"\} 2/);
    assert.match(m, /process_resident_memory_bytes/);
    assert.equal((await fetch(`http://${d.addresses!.metrics}/healthz`)).status, 200);
    const ready = await fetch(`http://${d.addresses!.metrics}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(d.proc!.exitCode, null, "the daemon never crashed");
  });
});
