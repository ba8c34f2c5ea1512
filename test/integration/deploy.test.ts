import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bootstrap, cleanEnv, portFree, runCtl, tempDir } from "../support/daemon.js";

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

describe("deploy/local-federation.sh", function () {
  this.timeout(90000);

  it("starts a NATS supercluster and three regions that distribute to each other, driven by iotfedctl with a ctl config file; the route reaches the third region; stops them", async () => {
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
    } finally {
      const stop = spawnSync("bash", [SCRIPT, "stop", dir], { encoding: "utf8", timeout: 30000 });
      rmSync(dir, { recursive: true, force: true });
      assert.equal(stop.status, 0, stop.stderr);
    }
  });
});
