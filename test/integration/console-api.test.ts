import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { TestDaemon, seedAccount } from "../support/daemon.js";

const guide = readFileSync(fileURLToPath(new URL("../../../docs/guides/console.md", import.meta.url)), "utf8");

/** The guide's first `curl` example, as an argument list, with its placeholders filled. */
function guideCurl(vars: Record<string, string>): string[] {
  const block = /```sh\n(curl [\s\S]*?)\n```/.exec(guide);
  assert.ok(block !== null, "docs/guides/console.md has a curl example");
  let cmd = block[1]!.replace(/\\\n\s*/g, " ");
  for (const [k, v] of Object.entries(vars)) cmd = cmd.replaceAll(k, v);
  // Split like a shell would for this simple example: quoted words and bare words.
  return [...cmd.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!).slice(1);
}

/*
 * The admin API on the console listener with the Connect protocol: the
 * same implementation and authentication as gRPC, callable with curl and
 * JSON, and closed to other sites.
 */
describe("the admin API with the Connect protocol (console listener)", function () {
  this.timeout(60000);
  const d = new TestDaemon({ config: { listen: { admin: "127.0.0.1:0", bootstrap: "127.0.0.1:0", metrics: "127.0.0.1:0", console: "127.0.0.1:0" } } });
  let base: string;
  let token: string;
  let pk: string;
  const call = (method: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}/iotfed.v1.AdminService/${method}`, { method: "POST", headers: { "content-type": "application/json", "connect-protocol-version": "1", ...headers }, body: JSON.stringify(body) });

  before(async () => {
    await d.start();
    base = `http://${d.addresses!.console!}`;
    token = (await seedAccount(d, "acme")).token;
    pk = (await d.ctlJson(["product", "create", "-n", "Lamp"], { token })).product.productKey;
  });
  after(async () => {
    await d.dispose();
  });

  it("the guide's curl example works as written: a JSON call of QueryProductList", () => {
    const args = guideCurl({ "127.0.0.1:8081": d.addresses!.console!, "$IOTFED_TOKEN": token });
    const out = execFileSync("curl", args, { encoding: "utf8" });
    const r = JSON.parse(out) as { products: { productKey: string }[] };
    assert.deepEqual(r.products.map((p) => p.productKey), [pk]);
  });

  it("a refusal comes back as JSON with the rule and field as headers, as gRPC trailers have them", async () => {
    await d.ctlJson(["device", "register", pk, "lamp-1"], { token });
    const r = await call("RegisterDevice", { productKey: pk, deviceName: "lamp-1" }, { authorization: `Bearer ${token}` });
    assert.equal(r.status, 409);
    const body = (await r.json()) as { code: string; message: string };
    assert.equal(body.code, "already_exists");
    const bad = await call("QueryProduct", { productKey: "x" }, { authorization: `Bearer ${token}` });
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get("iotfed-field"), "product_key");
    const tooMany = await call("BatchRegisterDevice", { productKey: pk, deviceNames: Array.from({ length: 1001 }, (_, i) => `n-${i}`) }, { authorization: `Bearer ${token}` });
    assert.equal(tooMany.status, 400);
    assert.equal(tooMany.headers.get("iotfed-rule"), "R1");
    assert.match(((await tooMany.json()) as { message: string }).message, /1000/);
  });

  it("no token: unauthenticated; a request without the Connect header (a cross-site form) is refused before any handler", async () => {
    const anon = await call("QueryProductList", {});
    assert.equal(anon.status, 401);
    const form = await fetch(`${base}/iotfed.v1.AdminService/QueryProductList`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: "{}" });
    assert.equal(form.status, 400, "Connect-Protocol-Version is required");
    const plain = await fetch(`${base}/iotfed.v1.AdminService/CreateProduct`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "productName=x" });
    assert.ok(plain.status >= 400 && plain.status < 500);
    // Nothing was created by either.
    assert.equal((await d.ctlJson(["product", "list"], { token })).products.length, 1);
  });

  it("the pages carry a strict Content-Security-Policy and no inline script", async () => {
    const r = await fetch(`${base}/`);
    assert.equal(r.status, 200);
    const csp = r.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(r.headers.get("x-frame-options"), "DENY");
    const html = await r.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, "every script is a file");
    assert.doesNotMatch(html, /\son[a-z]+=/i, "no inline event handler");
    const js = await fetch(`${base}/assets/app.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get("content-type") ?? "", /javascript/);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal((await fetch(`${base}/`, { method: "POST" })).status, 405);
  });

  it("the console is off unless listen.console is set (outside the embedded default)", async () => {
    const plain = new TestDaemon();
    try {
      await plain.start();
      assert.equal(plain.addresses!.console, undefined);
    } finally {
      await plain.dispose();
    }
    const r = spawnSync("curl", ["--version"], { encoding: "utf8" });
    assert.equal(r.status, 0, "curl is installed (.ci/run)");
  });
});
