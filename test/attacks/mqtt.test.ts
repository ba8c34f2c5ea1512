import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { TopicOperation } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { freePort, TestDaemon, type AdminClient } from "../support/daemon.js";
import { connect, refusalCode, signIn } from "../support/mqtt.js";

/*
 * Attacks on the device side: a CONNECT captured once and replayed later,
 * and a device that keeps publishing after it was disabled or deleted —
 * at the embedded broker and through an external broker's hooks.
 */

describe("attacks on device sign-in: replayed CONNECTs, and sessions of disabled or deleted devices", function () {
  this.timeout(60000);
  let d: TestDaemon;
  let a: AdminClient;
  let pk: string;
  const secrets = new Map<string, string>();
  let port: number;
  const dir = mkdtempSync(join(tmpdir(), "iotfed-mqtt-attack-"));
  const token = randomBytes(24).toString("hex");
  const hook = async (path: string, body: unknown) => {
    const res = await fetch(`http://${d.addresses!.mqttHooks}${path}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
    return (await res.json()) as { result: string };
  };
  const metric = async (name: string): Promise<number> => {
    const line = (await d.metrics()).split("\n").find((l) => l.startsWith(name));
    return line === undefined ? 0 : Number(line.split(" ").pop());
  };

  before(async () => {
    port = await freePort();
    writeFileSync(join(dir, "hook.token"), token, { mode: 0o600 });
    d = new TestDaemon({
      config: {
        instance: { id: "iot-cn-shanghai-1", kind: "public", mqtt: { host: "127.0.0.1", port } },
        mqtt: { broker: { enabled: true, listen: `127.0.0.1:${port}` }, external: { enabled: true, listen: "127.0.0.1:0", tokenFile: join(dir, "hook.token") }, timestampWindowMs: 60000 },
      },
    });
    await d.start();
    const accountId = (await d.ctlJson(["account", "create", "acme"])).account.accountId as string;
    a = d.admin(accountId);
    pk = (await a.createProduct({ productName: "Lock" })).product!.productKey;
    await a.createProductTopic({ productKey: pk, topicShortName: "state", operation: TopicOperation.PUB });
    for (const dn of ["lock-0001", "lock-0002", "lock-0003"]) secrets.set(dn, (await a.registerDevice({ productKey: pk, deviceName: dn })).device!.deviceSecret);
  });
  after(async () => {
    a?.close();
    await d?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a CONNECT captured earlier is refused once its timestamp is outside the window (60 s here), at the broker and at the external hook; a fresh one signs in", async () => {
    const before = await metric('iotfed_mqtt_connects_total{result="stale_timestamp"}');
    const captured = signIn(pk, "lock-0001", secrets.get("lock-0001")!, "hmacsha256", Date.now() - 61_000);
    assert.equal(await refusalCode(connect(port, captured)), 4, "bad user name or password");
    const ahead = signIn(pk, "lock-0001", secrets.get("lock-0001")!, "hmacsha256", Date.now() + 61_000);
    assert.equal(await refusalCode(connect(port, ahead)), 4, "a timestamp from the future is as good as a replay");
    assert.equal((await hook("/mqtt/auth", { clientid: captured.clientId, username: captured.username, password: captured.password })).result, "deny");
    assert.equal(await metric(`iotfed_mqtt_connects_total{result="stale_timestamp"}`), before + 3, "counted, at the broker and at the hook");
    assert.equal(await refusalCode(connect(port, signIn(pk, "lock-0001", secrets.get("lock-0001")!))), 0);
  });

  it("disabling a device cuts its live session within 1 s, and the external hook denies its publishes from then on", async () => {
    const s = signIn(pk, "lock-0002", secrets.get("lock-0002")!);
    const client = await connect(port, s);
    const closed = new Promise<number>((resolve) => client.once("close", () => resolve(Date.now())));
    assert.equal((await hook("/mqtt/authz", { clientid: s.clientId, username: s.username, topic: `/${pk}/lock-0002/user/state`, action: "publish" })).result, "allow");
    const t0 = Date.now();
    await a.disableThing({ productKey: pk, deviceName: "lock-0002" });
    const t1 = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 3000))]);
    client.end(true);
    assert.ok(t1 > 0 && t1 - t0 <= 1000, `session cut after ${t1 - t0} ms`);
    assert.equal((await hook("/mqtt/authz", { clientid: s.clientId, username: s.username, topic: `/${pk}/lock-0002/user/state`, action: "publish" })).result, "deny");
    assert.equal(await refusalCode(connect(port, signIn(pk, "lock-0002", secrets.get("lock-0002")!))), 5, "not authorized");
  });

  it("deleting a device cuts its live session at once", async () => {
    const client = await connect(port, signIn(pk, "lock-0003", secrets.get("lock-0003")!));
    const closed = new Promise<number>((resolve) => client.once("close", () => resolve(Date.now())));
    const t0 = Date.now();
    await a.deleteDevice({ productKey: pk, deviceName: "lock-0003" });
    const t1 = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 3000))]);
    client.end(true);
    assert.ok(t1 > 0 && t1 - t0 <= 1000, `session cut after ${t1 - t0} ms`);
  });
});
