import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { IOTFEDD, TestDaemon, bootstrap, cleanEnv, portFree, runCtl, runDaemonOnce, seedAccount, tempDir, waitFor } from "../support/daemon.js";
import { createServer } from "node:net";

describe("single instance: restart, crash and start-up", function () {
  this.timeout(90000);

  it("a restart loses nothing: products, devices, topic classes, thing models, scripts, tags, tokens — and bootstrap answers at once", async () => {
    const d = new TestDaemon();
    try {
      await d.start();
      const a = await seedAccount(d, "acme");
      const pk = (await d.ctlJson(["product", "create", "-n", "Meter"], { token: a.token })).product.productKey as string;
      await d.ctl(["topic", "create", pk, "update", "-o", "pub"], { token: a.token });
      await d.ctl(["tsl", "import", pk, "-"], { token: a.token, stdin: '{"properties":[{"identifier":"kwh","name":"kWh","accessMode":"r","dataType":{"type":"double","specs":{}}}]}' });
      await d.ctl(["script", "create", pk, "-"], { token: a.token, stdin: "var parse = 1;" });
      await d.ctlJson(["device", "batch-register", pk, "--count", "300"], { token: a.token });
      const dev = await d.ctlJson(["device", "register", pk, "meter-0001"], { token: a.token });
      await d.ctl(["device", "tag", "set", pk, "meter-0001", "site=plant"], { token: a.token });
      await d.ctl(["device", "disable", pk, "meter-0001"], { token: a.token });

      assert.equal(await d.stop(), 0);
      await d.start();
      // The very first request after "ready" is answered from the reloaded table.
      assert.equal((await bootstrap(d.addresses!.bootstrap, `productKey=${pk}&deviceName=meter-0001`)).status, 403, "still disabled");
      await d.ctl(["device", "enable", pk, "meter-0001"], { token: a.token });
      assert.equal((await bootstrap(d.addresses!.bootstrap, `productKey=${pk}&deviceName=meter-0001`)).status, 200);

      assert.equal((await d.ctlJson(["device", "list", pk, "--all", "--page-size", "1000"], { token: a.token })).devices.length, 301);
      assert.equal((await d.ctlJson(["device", "get", pk, "meter-0001", "--secret"], { token: a.token })).device.deviceSecret, dev.device.deviceSecret, "the sealed secret opens after restart");
      assert.equal((await d.ctlJson(["topic", "list", pk], { token: a.token })).topics[0].topicShortName, "update");
      assert.equal(JSON.parse((await d.ctlJson(["tsl", "get", pk], { token: a.token })).tslJson).properties[0].identifier, "kwh");
      assert.equal((await d.ctlJson(["script", "get", pk], { token: a.token })).scriptContent, "var parse = 1;");
      assert.deepEqual((await d.ctlJson(["device", "tag", "list", pk, "meter-0001"], { token: a.token })).props, [{ key: "site", value: "plant" }]);
      assert.ok(d.logs.some((l) => l.includes('"devices":301') && l.includes("route table loaded")));
    } finally {
      await d.dispose();
    }
  });

  it("SIGKILL loses no committed change (WAL), and the daemon restarts on the same store", async () => {
    const d = new TestDaemon();
    try {
      await d.start();
      const a = await seedAccount(d, "acme");
      const pk = (await d.ctlJson(["product", "create", "-n", "Meter"], { token: a.token })).product.productKey as string;
      const batch = await d.ctlJson(["device", "batch-register", pk, "--count", "500"], { token: a.token });
      await d.kill();
      await d.start();
      const names = batch.results.map((r: { deviceName: string }) => r.deviceName) as string[];
      for (const dn of [names[0]!, names[250]!, names[499]!]) {
        assert.equal((await bootstrap(d.addresses!.bootstrap, `productKey=${pk}&deviceName=${dn}`)).status, 200, dn);
      }
      assert.equal((await d.ctlJson(["product", "get", pk], { token: a.token })).product.deviceCount, "500");
    } finally {
      await d.dispose();
    }
  });

  it("SIGTERM drains and exits 0; /readyz and the gRPC health service say SERVING before", async () => {
    const d = new TestDaemon();
    try {
      await d.start();
      assert.equal((await fetch(`http://${d.addresses!.metrics}/readyz`)).status, 200);
      const client = new grpc.Client(d.addresses!.admin, grpc.credentials.createInsecure());
      const status = await new Promise<Buffer>((resolve, reject) =>
        client.makeUnaryRequest("/grpc.health.v1.Health/Check", (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (e, v) => (e ? reject(e) : resolve(v!))),
      );
      assert.deepEqual([...status], [0x08, 0x01], "HealthCheckResponse{status: SERVING}");
      // Server reflection lists the admin service (ServerReflectionRequest{list_services: ""}).
      const services = await new Promise<string>((resolve, reject) => {
        const call = client.makeBidiStreamRequest("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", (b: Buffer) => b, (b: Buffer) => b);
        call.on("data", (b: Buffer) => {
          resolve(b.toString("latin1"));
          call.end();
        });
        call.on("error", reject);
        call.write(Buffer.from([0x3a, 0x00]));
      });
      assert.match(services, /iotfed\.v1\.AdminService/);
      client.close();
      const t0 = Date.now();
      assert.equal(await d.stop(), 0);
      assert.ok(Date.now() - t0 < 3000, `stopped in ${Date.now() - t0} ms: nothing left holding the process`);
      assert.ok(d.logs.some((l) => l.includes("iotfedd stopped")));
    } finally {
      await d.dispose();
    }
  });

  it("a configuration error names the key and exits 2, before touching the data directory", async () => {
    const dir = tempDir();
    try {
      const cfg = join(dir, "bad.yaml");
      writeFileSync(cfg, `dataDir: ${join(dir, "data")}\ninstance:\n  kind: private\n`);
      const r = await runDaemonOnce(["--config", cfg], cleanEnv());
      assert.equal(r.code, 2);
      assert.match(r.stderr, /configuration error: instance\.kind/);
      writeFileSync(cfg, `dataDir: ${join(dir, "data")}\nlisten:\n  admin: 127.0.0.1:0\n  bootstrap: 127.0.0.1:0\n  metrics: 127.0.0.1:0\n`);
      const noKey = await runDaemonOnce(["--config", cfg], cleanEnv());
      assert.equal(noKey.code, 2);
      assert.match(noKey.stderr, /security\.sealKeyFile: is required outside the embedded default \(or set IOTFED_SEAL_KEY\)/);
      assert.equal(existsSync(join(dir, "data", "iotfed.db")), false);
      const usage = await runDaemonOnce(["--bogus"], cleanEnv());
      assert.equal(usage.code, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("every configuration problem exits 2 naming its key: a peer certificate that cannot be read, a listen address in use", async () => {
    const dir = tempDir();
    const taken = createServer();
    try {
      const d = new TestDaemon();
      const cfg = join(dir, "peer.yaml");
      writeFileSync(
        cfg,
        [
          `dataDir: ${join(dir, "data")}`,
          "listen: { admin: 127.0.0.1:0, bootstrap: 127.0.0.1:0, metrics: 127.0.0.1:0 }",
          `peer: { listen: 127.0.0.1:0, tls: { caFile: ${join(dir, "ca.crt")}, certFile: ${join(dir, "missing.crt")}, keyFile: ${join(dir, "missing.key")} } }`,
          "peers: [{ id: iot-other-1, region: eu-central-1, kind: public, address: 127.0.0.1:1, mqtt: {} }]",
        ].join("\n"),
      );
      writeFileSync(join(dir, "ca.crt"), "");
      const noCert = await runDaemonOnce(["--config", cfg], d.env);
      assert.equal(noCert.code, 2, noCert.stderr);
      assert.match(noCert.stderr, /configuration error: peer\.tls\.certFile: cannot read .*missing\.crt: ENOENT/);
      await new Promise<void>((ok) => taken.listen(0, "127.0.0.1", ok));
      const port = (taken.address() as { port: number }).port;
      writeFileSync(cfg, `dataDir: ${join(dir, "data")}\nlisten: { admin: 127.0.0.1:0, bootstrap: 127.0.0.1:${port}, metrics: 127.0.0.1:0 }\n`);
      const inUse = await runDaemonOnce(["--config", cfg], d.env);
      assert.equal(inUse.code, 2, inUse.stderr);
      assert.match(inUse.stderr, new RegExp(`configuration error: listen\\.bootstrap: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
      await d.dispose();
    } finally {
      taken.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a data directory from a newer schema is refused with exit 2", async () => {
    const d = new TestDaemon();
    try {
      await d.start();
      await d.stop();
      const { default: Database } = await import("better-sqlite3");
      const db = new Database(join(d.dataDir, "iotfed.db"));
      db.pragma("user_version = 999");
      db.close();
      const r = await runDaemonOnce(["--config", d.configPath], d.env);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /schema version 999/);
    } finally {
      await d.dispose();
    }
  });

  it("the embedded default: no configuration, data in ./data, generated keys, CLI finds the operator token, a device bootstraps", async function () {
    for (const port of [50051, 8080, 9464]) {
      if (!(await portFree(port))) this.skip(); // a daemon of the developer's own is running there
    }
    const cwd = tempDir("iotfed-embedded-");
    const env = cleanEnv();
    const p = spawn(process.execPath, [IOTFEDD], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
    try {
      await waitFor("embedded daemon ready", () => (out.includes("iotfedd ready") ? true : undefined), 20000);
      assert.equal(statSync(join(cwd, "data", "seal.key")).mode & 0o777, 0o600);
      const token = readFileSync(join(cwd, "data", "operator.token"), "utf8").trim();
      assert.equal(out.includes(token), false, "the generated token is not logged");
      const ctl = async (args: string[]) => {
        const r = await runCtl(["--json", ...args], env, undefined, cwd);
        assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
        return JSON.parse(r.stdout);
      };
      const acct = await ctl(["account", "create", "demo"]);
      const prod = await ctl(["--as-account", acct.account.accountId, "product", "create", "-n", "Demo"]);
      const pk = prod.product.productKey;
      await ctl(["--as-account", acct.account.accountId, "device", "register", pk, "demo-0001"]);
      const r = await bootstrap("127.0.0.1:8080", `productKey=${pk}&deviceName=demo-0001&clientId=${pk}.demo-0001&resources=mqtt`);
      assert.equal(r.status, 200);
      assert.equal(r.json.data.resources.mqtt.port, 1883);
    } finally {
      const exited = new Promise((r) => p.once("exit", r));
      p.kill("SIGTERM");
      await exited;
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
