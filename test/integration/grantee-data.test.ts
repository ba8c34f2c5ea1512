import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { connect as natsConnect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { freePort, tempDir, TestDaemon, waitFor, type AdminClient } from "../support/daemon.js";
import { NatsServer } from "../support/nats.js";
import { rejects } from "../support/grpc.js";
import { Device, THERMO_TSL } from "../support/thing.js";

const ACCOUNT_USER = fileURLToPath(new URL("../../../deploy/nats/iotfed-account-user.sh", import.meta.url));

/*
 * Grantee use (R15; docs/guides/thing-model.md "Subscriptions"): the
 * account a device is granted to reads its properties and events, and
 * receives its property posts and events on a NATS subscription of its own
 * (its user may read only its own subjects, deploy/nats/iotfed-account-user.sh),
 * beside the owner's; it can set nothing. Another account receives nothing.
 */
describe("a grantee reads a granted device's data and receives its messages on its own subscription, and writes nothing (R15)", function () {
  this.timeout(60000);
  const dir = tempDir("iotfed-grantee-");
  let nats: NatsServer;
  let d: TestDaemon;
  let alice: AdminClient, bob: AdminClient;
  let ids: Record<"alice" | "bob" | "carol", string>;
  let pk: string;
  let dev: Device;
  const conns: NatsConnection[] = [];
  const conf = join(dir, "nats.conf");
  const writeConf = (users: string): void =>
    writeFileSync(conf, `listen: 127.0.0.1:${nats.port}\njetstream { store_dir: "${join(dir, "js")}" }\nno_auth_user: daemon\nauthorization { users: [\n  { user: daemon, password: "not-used" }\n${users}] }\n`);

  before(async () => {
    nats = new NatsServer(await freePort(), conf);
    writeConf("");
    await nats.start();
    const port = await freePort();
    d = new TestDaemon({
      config: {
        instance: { id: "iot-cn-shanghai-1", kind: "legacy-public", mqtt: { host: "127.0.0.1", port } },
        mqtt: { broker: { enabled: true, listen: `127.0.0.1:${port}` } },
        replication: { servers: [nats.url] },
      },
    });
    await d.start();
    ids = { alice: "", bob: "", carol: "" };
    for (const who of ["alice", "bob", "carol"] as const) ids[who] = (await d.ctlJson(["account", "create", who])).account.accountId as string;
    // Each account's integration user, as deploy/nats/iotfed-account-user.sh makes it; the server reloads its users.
    const users = (["alice", "bob", "carol"] as const).map((who) => {
      const r = spawnSync("bash", [ACCOUNT_USER, ids[who], `pw-${who}`], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    });
    writeConf(users.join(""));
    nats.proc!.kill("SIGHUP");
    alice = d.admin(ids.alice);
    bob = d.admin(ids.bob);
    pk = (await alice.createProduct({ productName: "Thermo" })).product!.productKey;
    await alice.importThingModelTsl({ productKey: pk, tslJson: THERMO_TSL });
    await alice.releaseProduct({ productKey: pk });
    const secret = (await alice.registerDevice({ productKey: pk, deviceName: "lobby.thermo@1" })).device!.deviceSecret;
    await alice.registerDevice({ productKey: pk, deviceName: "private-1" });
    await alice.grantDevice({ productKey: pk, deviceName: "lobby.thermo@1", granteeAccountId: ids.bob });
    dev = await Device.open(port, pk, "lobby.thermo@1", secret);
  });
  after(async () => {
    dev?.end();
    for (const c of conns) await c.close();
    alice?.close();
    bob?.close();
    await d?.dispose();
    await nats?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const as = async (who: "alice" | "bob" | "carol"): Promise<NatsConnection> => {
    const c = await waitFor(`${who}'s NATS user`, () => natsConnect({ servers: nats.url, user: `acct-${ids[who]}`, pass: `pw-${who}`, inboxPrefix: `_INBOX_acct-${ids[who]}` }).catch(() => undefined), 10000, 200);
    conns.push(c);
    return c;
  };
  const collect = (sub: Subscription): string[] => {
    const got: string[] = [];
    void (async () => {
      for await (const m of sub) got.push(`${m.subject} ${m.string()}`);
    })();
    return got;
  };

  it("the owner and the grantee each receive the device's posts and events on their own subjects; a third account receives nothing and may not listen on theirs", async () => {
    const ownerSub = collect((await as("alice")).subscribe(`iotfed.data.${ids.alice}.>`));
    const bobConn = await as("bob");
    const bobSub = collect(bobConn.subscribe(`iotfed.data.${ids.bob}.>`));
    const carol = await as("carol");
    const carolOwn = collect(carol.subscribe(`iotfed.data.${ids.carol}.>`));
    const carolErrors: string[] = [];
    void (async () => {
      for await (const s of carol.status()) if (s.type === "error") carolErrors.push(String(s.error?.message));
    })();
    carol.subscribe(`iotfed.data.${ids.bob}.>`);
    for (const c of conns) await c.flush();
    assert.equal((await dev.post({ temp: 22.5 })).code, 200);
    assert.equal((await dev.request(`/sys/${pk}/lobby.thermo@1/thing/event/overheat/post`, { value: { temp: 88 }, time: 1700000000000 }, "thing.event.overheat.post")).code, 200);
    const token = "lobby_2Ethermo_401"; // the device name as a subject token
    await waitFor("both subscriptions", () => Promise.resolve(ownerSub.length >= 2 && bobSub.length >= 2 ? true : undefined), 5000, 50);
    assert.match(bobSub[0]!, new RegExp(`^iotfed\\.data\\.${ids.bob}\\.${pk}\\.${token}\\.property \\{.*"items":\\{"temp":\\{"value":22\\.5,"time":\\d+\\}\\}`));
    assert.match(bobSub[1]!, new RegExp(`^iotfed\\.data\\.${ids.bob}\\.${pk}\\.${token}\\.event\\.overheat \\{.*"type":"alert","value":\\{"temp":88\\},"time":1700000000000`));
    assert.deepEqual(ownerSub.map((m) => m.split(" ")[0]!.split(".").slice(3).join(".")), bobSub.map((m) => m.split(" ")[0]!.split(".").slice(3).join(".")), "the same messages on each account's own subjects");
    await waitFor("carol's refusal", () => Promise.resolve(carolErrors.some((e) => /Permissions Violation for Subscription to "iotfed\.data\./.test(e)) ? true : undefined), 5000, 50);
    assert.deepEqual(carolOwn, [], "a device not granted to carol sends her nothing");
  });

  it("the grantee reads the device's properties and events, and sets or calls nothing", async () => {
    const props = (await bob.queryDevicePropertyStatus({ productKey: pk, deviceName: "lobby.thermo@1" })).properties.find((p) => p.identifier === "temp")!;
    assert.equal(props.valueJson, "22.5");
    assert.equal((await bob.queryDeviceEventData({ productKey: pk, deviceName: "lobby.thermo@1" })).events.length, 1);
    await rejects(bob.setDeviceProperty({ productKey: pk, deviceName: "lobby.thermo@1", itemsJson: '{"power":1}' }), grpc.status.PERMISSION_DENIED, /R15/);
    await rejects(bob.invokeThingService({ productKey: pk, deviceName: "lobby.thermo@1", identifier: "reboot", argsJson: "{}" }), grpc.status.PERMISSION_DENIED, /R15/);
    await rejects(bob.queryDevicePropertyStatus({ productKey: pk, deviceName: "private-1" }), grpc.status.NOT_FOUND, /does not exist/);
  });
});
