import assert from "node:assert/strict";
import { chmodSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, makeCerts, runDaemonOnce, tempDir, TestDaemon } from "../support/daemon.js";

/*
 * Safe defaults (docs/operating/security.md "Files" and "Planes"): what a
 * configuration may not do without saying so, and the modes of what the
 * daemon writes.
 */
describe("safe defaults: plaintext admin off loopback, open key files, the store's modes, test hooks", function () {
  this.timeout(60000);
  const env = cleanEnv({ IOTFED_SEAL_KEY: "a".repeat(64), IOTFED_OPERATOR_TOKEN: "t".repeat(32) });

  it("an admin listener off loopback without TLS exits 2 naming listen.admin, unless security.allowPlaintextAdmin says a proxy terminates TLS", async () => {
    const dir = tempDir();
    try {
      const cfg = join(dir, "c.yaml");
      writeFileSync(cfg, `dataDir: ${join(dir, "data")}\nlisten: { admin: 0.0.0.0:0, bootstrap: 127.0.0.1:0, metrics: 127.0.0.1:0 }\n`);
      const r = await runDaemonOnce(["--config", cfg], env);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /configuration error: listen\.admin: 0\.0\.0\.0:0 is not a loopback address and tls\.admin is not set: the operator token would cross the network in clear/);
      const d = new TestDaemon({ config: { listen: { admin: "0.0.0.0:0", bootstrap: "127.0.0.1:0", metrics: "127.0.0.1:0" }, security: { allowPlaintextAdmin: true } } });
      try {
        await d.start();
      } finally {
        await d.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a key or secret file that others may read exits 2 naming its key, as ssh refuses it", async () => {
    const dir = tempDir();
    try {
      const certs = makeCerts(join(dir, "certs"), ["iot-cn-shanghai-1"]);
      chmodSync(certs.key("iot-cn-shanghai-1"), 0o644);
      const cfg = join(dir, "c.yaml");
      writeFileSync(
        cfg,
        [
          `dataDir: ${join(dir, "data")}`,
          "listen: { admin: 127.0.0.1:0, bootstrap: 127.0.0.1:0, metrics: 127.0.0.1:0 }",
          "instance: { id: iot-cn-shanghai-1 }",
          `peer: { listen: 127.0.0.1:0, tls: { caFile: ${certs.ca}, certFile: ${certs.cert("iot-cn-shanghai-1")}, keyFile: ${certs.key("iot-cn-shanghai-1")} } }`,
        ].join("\n"),
      );
      const open = await runDaemonOnce(["--config", cfg], env);
      assert.equal(open.code, 2, open.stderr);
      assert.match(open.stderr, /configuration error: peer\.tls\.keyFile: .* is open to others \(mode 0644\); make it 0600/);
      chmodSync(certs.key("iot-cn-shanghai-1"), 0o640);
      const group = await runDaemonOnce(["--config", cfg], env);
      assert.equal(group.code, 2, group.stderr);
      assert.match(group.stderr, /peer\.tls\.keyFile: .* is open to its group \(mode 0640\)/);
      const token = join(dir, "operator.token");
      writeFileSync(token, "t".repeat(32), { mode: 0o644 });
      writeFileSync(cfg, `dataDir: ${join(dir, "data")}\nlisten: { admin: 127.0.0.1:0, bootstrap: 127.0.0.1:0, metrics: 127.0.0.1:0 }\nsecurity: { operatorTokenFile: ${token} }\n`);
      const tok = await runDaemonOnce(["--config", cfg], cleanEnv({ IOTFED_SEAL_KEY: "a".repeat(64) }));
      assert.equal(tok.code, 2, tok.stderr);
      assert.match(tok.stderr, /security\.operatorTokenFile: .* is open to others/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the store, its WAL and its backups are the daemon's only: files 0600 in a 0700 directory", async () => {
    const d = new TestDaemon();
    try {
      await d.start();
      const r = await d.ctlJson(["backup", "--name", "b1"]);
      assert.equal(statSync(d.dataDir).mode & 0o777, 0o700);
      const files = readdirSync(d.dataDir).filter((f) => f.startsWith("iotfed.db"));
      assert.ok(files.includes("iotfed.db-wal"), files.join(" "));
      for (const f of files) assert.equal(statSync(join(d.dataDir, f)).mode & 0o777, 0o600, f);
      const backup = String((r as { path?: string; backup?: { path?: string } }).path ?? (r as { backup?: { path?: string } }).backup?.path);
      assert.equal(statSync(backup).mode & 0o777, 0o600, backup);
    } finally {
      await d.dispose();
    }
  });

  it("a test-only hook (IOTFED_CLOCK_OFFSET_FILE) is ignored, and said so, unless the configuration allows test hooks", async () => {
    const dir = tempDir();
    const d = new TestDaemon({ env: { IOTFED_CLOCK_OFFSET_FILE: join(dir, "offset") } });
    try {
      writeFileSync(join(dir, "offset"), "600000");
      await d.start();
      assert.ok(d.logs.some((l) => /IOTFED_CLOCK_OFFSET_FILE is set but testHooks is off: ignored/.test(l)));
      assert.ok(!d.logs.some((l) => /authorization-code time is shifted/.test(l)));
    } finally {
      await d.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
