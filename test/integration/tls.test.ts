import assert from "node:assert/strict";
import { request } from "node:https";
import { readFileSync, rmSync } from "node:fs";
import { TestDaemon, makeCerts, tempDir } from "../support/daemon.js";
import { splitHostPort } from "../../internal/daemon/index.js";

function httpsBootstrap(addr: string, ca: Buffer, body: string): Promise<{ status: number; body: string }> {
  const { host, port } = splitHostPort(addr);
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port, method: "POST", path: "/auth/bootstrap", ca, servername: "localhost", headers: { "content-type": "application/x-www-form-urlencoded;charset=utf-8" } },
      (res) => {
        let b = "";
        res.setEncoding("utf8").on("data", (c: string) => (b += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: b }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("single instance: TLS on the admin and bootstrap listeners", function () {
  this.timeout(60000);
  const certDir = tempDir("iotfed-certs-");
  const certs = makeCerts(certDir, ["iot-tls-1"]);
  const d = new TestDaemon({
    config: {
      tls: {
        admin: { certFile: certs.cert("iot-tls-1"), keyFile: certs.key("iot-tls-1") },
        bootstrap: { certFile: certs.cert("iot-tls-1"), keyFile: certs.key("iot-tls-1") },
      },
    },
  });
  before(async () => {
    await d.start();
  });
  after(async () => {
    await d.dispose();
    rmSync(certDir, { recursive: true, force: true });
  });

  it("iotfedctl talks TLS with --ca, and refuses a plaintext or unverified connection", async () => {
    const ok = await d.ctl(["--ca", certs.ca, "whoami"]);
    assert.equal(ok.code, 0, ok.stderr);
    const plain = await d.ctl(["--timeout", "3", "whoami"]);
    assert.equal(plain.code, 5, "plaintext against a TLS listener is unreachable");
    const unverified = await d.ctl(["--tls", "--timeout", "3", "whoami"]);
    assert.equal(unverified.code, 5, "a certificate from an unknown CA is not trusted");
  });

  it("devices bootstrap over HTTPS", async () => {
    const acct = await d.ctlJson(["--ca", certs.ca, "account", "create", "acme"]);
    const pk = (await d.ctlJson(["--ca", certs.ca, "--as-account", acct.account.accountId, "product", "create", "-n", "Lamp"])).product.productKey;
    await d.ctlJson(["--ca", certs.ca, "--as-account", acct.account.accountId, "device", "register", pk, "lamp-0001"]);
    const r = await httpsBootstrap(d.addresses!.bootstrap, readFileSync(certs.ca), `productKey=${pk}&deviceName=lamp-0001`);
    assert.equal(r.status, 200);
    assert.match(r.body, /"code":200/);
  });
});
