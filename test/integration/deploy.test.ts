import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as natsConnect } from "@nats-io/transport-node";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bootstrap, cleanEnv, portFree, runCtl, tempDir } from "../support/daemon.js";
import { natsServerBinary } from "../support/nats.js";

const SCRIPT = fileURLToPath(new URL("../../../deploy/local-federation.sh", import.meta.url));

/**
 * A base port whose 30 neighbours are free now, below Linux's ephemeral
 * range (32768-60999): there an outgoing connection of the daemons being
 * started could take one of them between this check and their bind.
 */
async function freeBase(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + 100 * Math.floor(Math.random() * 120);
    const ports = [0, 10, 20].flatMap((o) => [0, 1, 2, 3, 5, 6, 7].map((k) => base + o + k));
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
  throw new Error("no free port range found");
}

/**
 * The NATS of the local federation (deploy/nats/iotfed-user.sh): no client
 * without a federation certificate; a daemon's user (eu-central-1's) may not
 * delete or purge the routes stream, read another daemon's replies, or
 * publish another daemon's job events.
 */
async function natsLeastPrivilege(dir: string, url: string): Promise<void> {
  const tls = (who?: string) => ({ caFile: join(dir, "tls/ca.crt"), ...(who === undefined ? {} : { certFile: join(dir, `tls/${who}.crt`), keyFile: join(dir, `tls/${who}.key`) }) });
  await assert.rejects(natsConnect({ servers: url, tls: tls(), timeout: 3000, reconnect: false }), "a client without a certificate is refused");
  const nc = await natsConnect({ servers: url, tls: tls("iot-eu-central-1-1"), inboxPrefix: "_INBOX_iot-eu-central-1-1", reconnect: false });
  const violations: string[] = [];
  void (async () => {
    for await (const st of nc.status()) if (st.type === "error") violations.push(String(st.error?.message ?? ""));
  })();
  try {
    for (const subject of ["$JS.API.STREAM.DELETE.KV_iotfed-routes", "$JS.API.STREAM.PURGE.KV_iotfed-routes", "$JS.API.STREAM.MSG.DELETE.KV_iotfed-routes"]) {
      await assert.rejects(nc.request(subject, "{}", { timeout: 2000 }), /Permissions Violation/, subject);
    }
    const info = JSON.parse(new TextDecoder().decode((await nc.request("$JS.API.STREAM.INFO.KV_iotfed-routes", "", { timeout: 2000 })).data)) as { state?: { messages: number } };
    assert.ok((info.state?.messages ?? 0) > 0, "it may read the bucket; the stream is still there");
    nc.subscribe("_INBOX_iot-cn-shanghai-1.>");
    nc.publish("iotfed.jobs.iot-cn-shanghai-1.job_forged", "{}");
    await nc.flush();
    const t0 = Date.now();
    while (violations.length < 5 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 50));
    assert.ok(violations.some((v) => /Subscription to "_INBOX_iot-cn-shanghai-1\.>"/.test(v)), violations.join("; "));
    assert.ok(violations.some((v) => /Publish to "iotfed\.jobs\.iot-cn-shanghai-1\.job_forged"/.test(v)), violations.join("; "));
  } finally {
    await nc.close();
  }
}

describe("deploy/local-federation.sh", function () {
  this.timeout(90000);

  it("starts a NATS supercluster (TLS, one least-privilege user per daemon) and three regions that distribute to each other, driven by iotfedctl with a ctl config file; the route reaches the third region; stops them", async () => {
    const dir = tempDir("iotfed-localfed-");
    const base = await freeBase();
    try {
      const start = spawnSync("bash", [SCRIPT, "start", dir, String(base)], { encoding: "utf8", timeout: 60000, env: cleanEnv() });
      assert.equal(start.status, 0, start.stderr + start.stdout);
      assert.match(start.stdout, /eu-central-1: iot-eu-central-1-1 admin/);
      // iotfedctl reads server and token file from its own config file.
      const ctlCfg = join(dir, "ctl.yaml");
      writeFileSync(ctlCfg, `server: 127.0.0.1:${base}\ntokenFile: ${join(dir, "operator.token")}\n`);
      const env = cleanEnv();
      const ctl = async (args: string[]) => {
        const r = await runCtl(["--config", ctlCfg, "--json", ...args], env);
        assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
        return JSON.parse(r.stdout);
      };
      const who = await ctl(["whoami"]);
      assert.equal(who.instanceId, "iot-cn-shanghai-1");
      const acct = (await ctl(["account", "create", "demo"])).account.accountId;
      const pk = (await ctl(["-A", acct, "product", "create", "-n", "Demo"])).product.productKey;
      await ctl(["-A", acct, "device", "register", pk, "demo-0001"]);
      const job = (await ctl(["-A", acct, "job", "create", pk, "--target-instance", "iot-us-west-1-1", "--devices", "demo-0001"])).job.jobId;
      const done = await ctl(["-A", acct, "job", "wait", job, "--max-wait", "30"]);
      assert.equal(done.job.succeeded, 1);
      const r = await bootstrap(`127.0.0.1:${base + 21}`, `productKey=${pk}&deviceName=demo-0001`);
      assert.equal(r.json.data.resources.mqtt.host, "mqtt.us-west-1.localhost");
      // eu-central-1 took no part: it learns the route from its NATS mirror.
      const t0 = Date.now();
      for (;;) {
        const e = await bootstrap(`127.0.0.1:${base + 11}`, `productKey=${pk}&deviceName=demo-0001`);
        if (e.json?.data?.resources?.mqtt?.host === "mqtt.us-west-1.localhost") break;
        assert.ok(Date.now() - t0 < 15000, `eu-central-1 still answers ${e.raw.toString()}`);
        await new Promise((res) => setTimeout(res, 100));
      }
      // Each daemon spoke TLS to NATS as its own user, and needed no permission it lacks.
      for (const r of ["cn-shanghai", "eu-central-1", "us-west-1"]) assert.doesNotMatch(readFileSync(join(dir, `nats-${r}.log`), "utf8"), /Violation/, `nats-${r}`);
      await natsLeastPrivilege(dir, `tls://127.0.0.1:${base + 15}`);
    } finally {
      const stop = spawnSync("bash", [SCRIPT, "stop", dir], { encoding: "utf8", timeout: 30000 });
      rmSync(dir, { recursive: true, force: true });
      assert.equal(stop.status, 0, stop.stderr);
    }
  });

  it("deploy/nats: each region's configuration is valid for this nats-server with its TLS files, and lists the users iotfed-user.sh makes", () => {
    const dir = tempDir("iotfed-natsconf-");
    try {
      const certs = spawnSync("bash", [fileURLToPath(new URL("../../../deploy/gen-certs.sh", import.meta.url)), join(dir, "tls"), "nats-test"], { encoding: "utf8" });
      assert.equal(certs.status, 0, certs.stderr);
      const src = fileURLToPath(new URL("../../../deploy/nats/", import.meta.url));
      const users = readFileSync(join(src, "iotfed-users.conf"), "utf8");
      for (const [id, mirror] of [["iot-cn-shanghai-1", ""], ["iot-eu-central-1-1", "KV_iotfed-routes_eu-central-1"], ["iot-us-west-1-1", "KV_iotfed-routes_us-west-1"]] as const) {
        const made = spawnSync("bash", [join(src, "iotfed-user.sh"), id, "iotfed-routes", ...(mirror === "" ? [] : [mirror])], { encoding: "utf8" });
        assert.equal(made.status, 0, made.stderr);
        assert.ok(users.includes(made.stdout.trim()), `iotfed-users.conf holds ${id} as iotfed-user.sh makes it`);
      }
      writeFileSync(join(dir, "iotfed-users.conf"), users);
      for (const region of ["cn-shanghai", "eu-central-1", "us-west-1"]) {
        const conf = readFileSync(join(src, `nats-${region}.conf`), "utf8")
          .replaceAll("/etc/nats/tls/server.crt", join(dir, "tls/nats-test.crt"))
          .replaceAll("/etc/nats/tls/server.key", join(dir, "tls/nats-test.key"))
          .replaceAll("/etc/nats/tls/ca.crt", join(dir, "tls/ca.crt"))
          .replaceAll("/var/lib/nats/jetstream", join(dir, "js"));
        assert.match(conf, /verify_and_map: true/);
        assert.match(conf, /include "iotfed-users.conf"/);
        writeFileSync(join(dir, `nats-${region}.conf`), conf);
        const t = spawnSync(natsServerBinary(), ["-c", join(dir, `nats-${region}.conf`), "-t"], { encoding: "utf8" });
        assert.equal(t.status, 0, `nats-${region}.conf: ${t.stderr}${t.stdout}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
