import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { DevicePlacement, DeviceStatus, JobStatus, TopicOperation } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { bootstrap, freePort, makeCerts, startFederation, TestDaemon, waitFor, type AdminClient, type FederationMember } from "../support/daemon.js";
import { waitJob } from "../support/jobs.js";
import { NatsServer } from "../support/nats.js";
import { connect, refusalCode, signIn } from "../support/mqtt.js";
import { THERMO_TSL } from "../support/thing.js";

type Fed = Awaited<ReturnType<typeof startFederation>>;

/**
 * Devices as MQTT clients with the embedded broker: two daemons (each
 * running its instance's MQTT endpoint on the port its bootstrap returns)
 * and NATS. A device bootstraps, signs in, is distributed, is told to
 * bootstrap again (R7), and comes up at the target, activated there (R8).
 */
describe("devices over MQTT: sign-in, activation, bootstrap notify (R7, R8)", function () {
  this.timeout(120000);
  let nats: NatsServer;
  let fed: Fed;
  let A: FederationMember, B: FederationMember, C: FederationMember;
  let a: AdminClient, b: AdminClient;
  let pk: string;
  let secret: string;
  const ports: number[] = [];

  before(async () => {
    nats = await NatsServer.start();
    ports.push(await freePort(), await freePort(), await freePort());
    fed = await startFederation(3, {
      config: { replication: { servers: [nats.url] } },
      configFor: (i) => ({
        instance: { id: `iot-${["cn-shanghai", "ap-southeast-1", "eu-central-1"][i]}-1`, kind: "public", mqtt: { host: "127.0.0.1", port: ports[i]! } },
        mqtt: { broker: { enabled: true, listen: `127.0.0.1:${ports[i]!}`, notifyGraceMs: 500 } },
      }),
    });
    [A, B, C] = fed.members as [FederationMember, FederationMember, FederationMember];
    const accountId = (await A.daemon.ctlJson(["account", "create", "acme"])).account.accountId as string;
    a = A.daemon.admin(accountId);
    b = B.daemon.admin(accountId);
    pk = (await a.createProduct({ productName: "Meter" })).product!.productKey;
    await a.createProductTopic({ productKey: pk, topicShortName: "update", operation: TopicOperation.PUB });
    await a.createProductTopic({ productKey: pk, topicShortName: "get", operation: TopicOperation.SUB });
    secret = (await a.registerDevice({ productKey: pk, deviceName: "meter-0001" })).device!.deviceSecret;
    await a.registerDevice({ productKey: pk, deviceName: "meter-0002" });
    await a.updateDeviceShadow({ productKey: pk, deviceName: "meter-0001", shadowJson: '{"reported":{"kwh":42}}' });
  });
  after(async () => {
    a?.close();
    b?.close();
    await fed?.dispose();
    await nats?.dispose();
  });

  it("a device bootstraps, signs in at the endpoint it was given, and becomes online (activated)", async () => {
    const r = await bootstrap(A.daemon.addresses!.bootstrap, `productKey=${pk}&deviceName=meter-0001&clientId=${pk}.meter-0001&resources=mqtt`);
    assert.deepEqual(r.json.data.resources.mqtt, { host: "127.0.0.1", port: ports[0] });
    const before = (await a.queryDeviceDetail({ productKey: pk, deviceName: "meter-0001" })).device!;
    assert.equal(before.status, DeviceStatus.INACTIVE);
    for (const method of ["hmacmd5", "hmacsha1", "hmacsha256"]) {
      const c = await connect(ports[0]!, signIn(pk, "meter-0001", secret, method));
      await c.endAsync();
    }
    const c = await connect(ports[0]!, signIn(pk, "meter-0001", secret));
    const d = await waitFor("online", async () => {
      const x = (await a.queryDeviceDetail({ productKey: pk, deviceName: "meter-0001" })).device!;
      return x.status === DeviceStatus.ONLINE ? x : undefined;
    });
    assert.ok(d.activeTimeMs > 0n, "activation time recorded");
    // its own topics and its product's topic classes, by operation; nothing else
    await c.publishAsync(`/${pk}/meter-0001/user/update`, "{}", { qos: 1 });
    const grant = async (topic: string): Promise<number> => {
      try {
        return (await c.subscribeAsync(topic))[0]!.qos;
      } catch (e) {
        return (e as { packet?: { granted?: number[] } }).packet?.granted?.[0] ?? -1;
      }
    };
    const topics = [`/${pk}/meter-0001/user/get`, `/${pk}/meter-0002/user/get`, `/${pk}/meter-0001/user/update`, `/sys/${pk}/meter-0001/thing/bootstrap/notify`, `/sys/${pk}/meter-0002/#`];
    const granted: number[] = [];
    for (const t of topics) granted.push(await grant(t));
    assert.deepEqual(granted, [0, 128, 128, 0, 128], "its own sub topic class and /sys; not another device's, not a pub-only class");
    await c.endAsync();
    await waitFor("offline", async () => ((await a.queryDeviceDetail({ productKey: pk, deviceName: "meter-0001" })).device!.status === DeviceStatus.OFFLINE ? true : undefined));
    const m = await A.daemon.metrics();
    assert.match(m, /iotfed_mqtt_connects_total\{result="accepted"\} [4-9]/);
  });

  it("refuses a wrong signature, a wrong product, another device's secret, and an instance that does not hold the device", async () => {
    const good = signIn(pk, "meter-0001", secret);
    assert.equal(await refusalCode(connect(ports[0]!, { ...good, password: "0".repeat(64) })), 4);
    assert.equal(await refusalCode(connect(ports[0]!, { ...good, username: "meter-0001&zzzzzzzzzzz" })), 5);
    assert.equal(await refusalCode(connect(ports[0]!, signIn(pk, "meter-0002", secret))), 4, "meter-0001's secret does not sign meter-0002");
    assert.equal(await refusalCode(connect(ports[1]!, good)), 5, "B does not hold the device");
    assert.equal(await refusalCode(connect(ports[2]!, good)), 5, "nor does C");
    const m = await A.daemon.metrics();
    assert.match(m, /iotfed_mqtt_connects_total\{result="bad_signature"\} 2/);
  });

  it("R7: distributed while online, the device is told thing.bootstrap.notify and disconnected; it bootstraps again, connects at the target and is activated there (R8); its runtime data waits at the source", async () => {
    const c = await connect(ports[0]!, signIn(pk, "meter-0001", secret));
    await c.subscribeAsync(`/sys/${pk}/meter-0001/thing/bootstrap/notify`, { qos: 1 });
    const notified = new Promise<{ topic: string; body: { id: string; version: string; method: string; params: { cmd: number } } }>((resolve) =>
      c.on("message", (topic, payload) => resolve({ topic, body: JSON.parse(payload.toString()) })),
    );
    const closed = new Promise<void>((resolve) => c.once("close", () => resolve()));
    await waitFor("online", async () => ((await a.queryDeviceDetail({ productKey: pk, deviceName: "meter-0001" })).device!.status === DeviceStatus.ONLINE ? true : undefined));

    const job = await a.createDeviceDistributeJob({ productKey: pk, targetRegionId: B.region, targetInstanceId: B.id, deviceNames: ["meter-0001"] });
    const n = await notified;
    assert.equal(n.topic, `/sys/${pk}/meter-0001/thing/bootstrap/notify`);
    assert.equal(n.body.method, "thing.bootstrap.notify");
    assert.equal(n.body.version, "1.0");
    assert.deepEqual(n.body.params, { cmd: 0 });
    await c.publishAsync(`/sys/${pk}/meter-0001/thing/bootstrap/notify_reply`, JSON.stringify({ id: n.body.id, code: 200, data: {} }), { qos: 1 });
    await closed;
    assert.equal((await waitJob(() => a, job.job!.jobId)).status, JobStatus.COMPLETED);

    // at the source: away, offline, its runtime data (shadow) kept
    const atA = (await a.queryDeviceDetail({ productKey: pk, deviceName: "meter-0001" })).device!;
    assert.equal(atA.placement, DevicePlacement.AWAY);
    assert.equal(atA.status, DeviceStatus.OFFLINE);
    assert.match((await a.getDeviceShadow({ productKey: pk, deviceName: "meter-0001" })).shadowJson, /"kwh":42/);
    const m = await A.daemon.metrics();
    assert.match(m, /iotfed_bootstrap_notifies_total\{result="sent"\} 1/);
    assert.match(m, /iotfed_bootstrap_notifies_total\{result="replied"\} 1/);
    // the source no longer takes it
    assert.equal(await refusalCode(connect(ports[0]!, signIn(pk, "meter-0001", secret))), 5);

    // bootstrap again, at the third daemon (the global address): the target's endpoint
    await waitFor("C to answer B's endpoint", async () => {
      const r = await bootstrap(C.daemon.addresses!.bootstrap, `productKey=${pk}&deviceName=meter-0001`);
      return r.status === 200 && r.json.data.resources.mqtt.port === ports[1] ? true : undefined;
    }, 15000, 100);
    const atBBefore = (await b.queryDeviceDetail({ productKey: pk, deviceName: "meter-0001" })).device!;
    assert.equal(atBBefore.status, DeviceStatus.INACTIVE, "R8: inactive at the target until it connects");
    const c2 = await connect(ports[1]!, signIn(pk, "meter-0001", secret));
    const atB = await waitFor("online at B", async () => {
      const x = (await b.queryDeviceDetail({ productKey: pk, deviceName: "meter-0001" })).device!;
      return x.status === DeviceStatus.ONLINE ? x : undefined;
    });
    assert.ok(atB.activeTimeMs > 0n);
    assert.equal((await b.getDeviceShadow({ productKey: pk, deviceName: "meter-0001" })).shadowJson, "{}", "runtime data did not move (R8)");
    await c2.endAsync();
  });
});

/**
 * An external broker (EMQX style) asks the daemon: HTTP authentication and
 * authorization, connect/disconnect webhooks; R7 goes through the broker's
 * management API, played here by a small HTTP server that records calls.
 */
describe("devices over MQTT through an external broker: HTTP authn/authz, webhooks, management API (R7)", function () {
  this.timeout(120000);
  let fed: Fed;
  let A: FederationMember, B: FederationMember;
  let a: AdminClient;
  let pk: string;
  let secret: string;
  let api: Server;
  const calls: { method: string; url: string; body: string }[] = [];
  const dir = mkdtempSync(join(tmpdir(), "iotfed-emqx-"));
  const token = randomBytes(24).toString("hex");

  before(async () => {
    api = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        calls.push({ method: req.method!, url: req.url!, body });
        const auth = req.headers.authorization ?? "";
        if (auth !== `Basic ${Buffer.from("key1:sec1").toString("base64")}`) return res.writeHead(401).end();
        if (req.method === "GET") return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ data: [{ clientid: "t1|securemode=3,signmethod=hmacsha256|" }] }));
        if (req.method === "DELETE") return res.writeHead(204).end();
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((r) => api.listen(0, "127.0.0.1", () => r()));
    writeFileSync(join(dir, "hook.token"), token, { mode: 0o600 });
    writeFileSync(join(dir, "api.cred"), "key1:sec1\n", { mode: 0o600 });
    fed = await startFederation(2, {
      configFor: (i) =>
        i === 0
          ? {
              mqtt: {
                external: {
                  enabled: true,
                  listen: "127.0.0.1:0",
                  tokenFile: join(dir, "hook.token"),
                  api: { url: `http://127.0.0.1:${(api.address() as AddressInfo).port}`, credentialsFile: join(dir, "api.cred") },
                  notifyGraceMs: 200,
                },
              },
            }
          : {},
    });
    [A, B] = fed.members as [FederationMember, FederationMember];
    const accountId = (await A.daemon.ctlJson(["account", "create", "acme"])).account.accountId as string;
    a = A.daemon.admin(accountId);
    pk = (await a.createProduct({ productName: "Meter" })).product!.productKey;
    await a.createProductTopic({ productKey: pk, topicShortName: "update", operation: TopicOperation.PUB });
    secret = (await a.registerDevice({ productKey: pk, deviceName: "ext-0001" })).device!.deviceSecret;
  });
  after(async () => {
    a?.close();
    await fed?.dispose();
    api?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const hook = async (path: string, body: unknown, bearer: string | null = token) => {
    const res = await fetch(`http://${A.daemon.addresses!.mqttHooks!}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(bearer === null ? {} : { authorization: `Bearer ${bearer}` }) },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: res.status === 204 ? undefined : ((await res.json()) as Record<string, unknown>) };
  };

  it("HTTP authentication and authorization in EMQX's request/response format, only with the broker's token", async () => {
    const s = signIn(pk, "ext-0001", secret);
    assert.equal((await hook("/mqtt/auth", { clientid: s.clientId, username: s.username, password: s.password }, null)).status, 401);
    assert.equal((await hook("/mqtt/auth", { clientid: s.clientId, username: s.username, password: s.password }, "wrong")).status, 401);
    assert.deepEqual((await hook("/mqtt/auth", { clientid: s.clientId, username: s.username, password: s.password })).json, { result: "allow", is_superuser: false });
    assert.deepEqual((await hook("/mqtt/auth", { clientid: s.clientId, username: s.username, password: "0".repeat(64) })).json, { result: "deny", is_superuser: false });
    assert.deepEqual((await hook("/mqtt/auth", { clientid: s.clientId, username: `ext-0001&zzzzzzzzzzz`, password: s.password })).json, { result: "deny", is_superuser: false });
    assert.equal((await hook("/mqtt/auth", "not an object")).status, 400);
    const authz = async (topic: string, action: string) => (await hook("/mqtt/authz", { clientid: s.clientId, username: s.username, topic, action })).json!.result;
    assert.equal(await authz(`/${pk}/ext-0001/user/update`, "publish"), "allow");
    assert.equal(await authz(`/${pk}/ext-0001/user/update`, "subscribe"), "deny", "a pub-only class");
    assert.equal(await authz(`/${pk}/ext-0002/user/update`, "publish"), "deny", "another device's topic");
    assert.equal(await authz(`/sys/${pk}/ext-0001/thing/bootstrap/notify`, "subscribe"), "allow");
  });

  it("thing data through the external broker: a property post in a message.publish webhook is stored and answered through the management API; a property set goes out through it and its reply comes back by webhook", async () => {
    await a.importThingModelTsl({ productKey: pk, tslJson: THERMO_TSL });
    await a.registerDevice({ productKey: pk, deviceName: "ext-0002" });
    const username = `ext-0002&${pk}`;
    await hook("/mqtt/webhook", { event: "client.connected", clientid: "t2", username });
    const post = `/sys/${pk}/ext-0002/thing/event/property/post`;
    assert.equal((await hook("/mqtt/authz", { clientid: "t2", username, topic: post, action: "publish" })).json!.result, "allow");
    await hook("/mqtt/webhook", { event: "message.publish", clientid: "t2", username, topic: post, payload: JSON.stringify({ id: "41", params: { temp: 19.5 }, method: "thing.event.property.post" }) });
    const published = (topic: string) => calls.filter((c) => c.url === "/api/v5/publish").map((c) => JSON.parse(c.body) as { topic: string; payload: string }).find((x) => x.topic === topic);
    const reply = await waitFor("the reply through the API", () => Promise.resolve(published(`${post}_reply`)), 5000, 20);
    assert.deepEqual({ code: (JSON.parse(reply.payload) as { code: number }).code, id: (JSON.parse(reply.payload) as { id: string }).id }, { code: 200, id: "41" });
    const temp = (await a.queryDevicePropertyStatus({ productKey: pk, deviceName: "ext-0002" })).properties.find((x) => x.identifier === "temp")!;
    assert.equal(temp.valueJson, "19.5");
    const set = a.setDeviceProperty({ productKey: pk, deviceName: "ext-0002", itemsJson: '{"power":1}' });
    const out = await waitFor("the set through the API", () => Promise.resolve(published(`/sys/${pk}/ext-0002/thing/service/property/set`)), 5000, 20);
    const id = (JSON.parse(out.payload) as { id: string }).id;
    await hook("/mqtt/webhook", { event: "message.publish", clientid: "t2", username, topic: `/sys/${pk}/ext-0002/thing/service/property/set_reply`, payload: JSON.stringify({ id, code: 200, data: {} }) });
    assert.equal((await set).code, 200);
    await hook("/mqtt/webhook", { event: "client.disconnected", clientid: "t2", username });
  });

  it("webhooks make the device online (activated) and offline; R7: leaving, it is notified and kicked through the management API, and its reply is recorded", async () => {
    assert.equal((await hook("/mqtt/webhook", { event: "client.connected", clientid: "t1", username: `ext-0001&${pk}` })).status, 204);
    let d = (await a.queryDeviceDetail({ productKey: pk, deviceName: "ext-0001" })).device!;
    assert.equal(d.status, DeviceStatus.ONLINE);
    assert.ok(d.activeTimeMs > 0n);
    await hook("/mqtt/webhook", { action: "client_disconnected", clientid: "t1", username: `ext-0001&${pk}` }); // EMQX 4 names
    d = (await a.queryDeviceDetail({ productKey: pk, deviceName: "ext-0001" })).device!;
    assert.equal(d.status, DeviceStatus.OFFLINE);
    assert.ok(d.lastOnlineTimeMs > 0n);

    const job = await a.createDeviceDistributeJob({ productKey: pk, targetRegionId: B.region, targetInstanceId: B.id, deviceNames: ["ext-0001"] });
    await waitFor("the kick", () => (calls.some((c) => c.method === "DELETE") ? true : undefined), 10000, 20);
    const publish = calls.find((c) => c.url === "/api/v5/publish" && c.body.includes("bootstrap/notify"))!;
    const p = JSON.parse(publish.body) as { topic: string; payload: string; qos: number };
    assert.equal(p.topic, `/sys/${pk}/ext-0001/thing/bootstrap/notify`);
    assert.deepEqual({ ...JSON.parse(p.payload), id: "x" }, { id: "x", version: "1.0", method: "thing.bootstrap.notify", params: { cmd: 0 } });
    assert.ok(calls.some((c) => c.method === "GET" && c.url === `/api/v5/clients?username=${encodeURIComponent(`ext-0001&${pk}`)}`));
    assert.ok(calls.some((c) => c.method === "DELETE" && c.url === `/api/v5/clients/${encodeURIComponent("t1|securemode=3,signmethod=hmacsha256|")}`));
    await hook("/mqtt/webhook", { event: "message.publish", username: `ext-0001&${pk}`, topic: `/sys/${pk}/ext-0001/thing/bootstrap/notify_reply`, payload: '{"code":200}' });
    assert.equal((await waitJob(() => a, job.job!.jobId)).status, JobStatus.COMPLETED);
    const m = await A.daemon.metrics();
    assert.match(m, /iotfed_bootstrap_notifies_total\{result="sent"\} 1/);
    assert.match(m, /iotfed_bootstrap_notifies_total\{result="replied"\} 1/);
    // gone from here: the broker's next authn and authz for it say deny
    const s = signIn(pk, "ext-0001", secret);
    assert.equal((await hook("/mqtt/auth", { clientid: s.clientId, username: s.username, password: s.password })).json!.result, "deny");
    assert.equal((await hook("/mqtt/authz", { username: s.username, topic: `/${pk}/ext-0001/user/update`, action: "publish" })).json!.result, "deny");
  });
});

describe("devices over MQTT: the embedded broker with TLS (securemode=2)", function () {
  this.timeout(60000);
  let d: TestDaemon;
  let ca: Buffer;
  let port: number;
  const dir = mkdtempSync(join(tmpdir(), "iotfed-mqtts-"));

  before(async () => {
    const certs = makeCerts(dir, ["mqtt-sh"]);
    ca = readFileSync(certs.ca);
    port = await freePort();
    d = new TestDaemon({
      config: {
        instance: { mqtt: { host: "127.0.0.1", port } },
        mqtt: { broker: { enabled: true, listen: `127.0.0.1:${port}`, tls: { certFile: certs.cert("mqtt-sh"), keyFile: certs.key("mqtt-sh") } } },
      },
    });
    await d.start();
  });
  after(async () => {
    await d?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a device signs in over TLS with the CA; a plaintext CONNECT to the TLS port gets nowhere", async () => {
    const accountId = (await d.ctlJson(["account", "create", "acme"])).account.accountId as string;
    const a = d.admin(accountId);
    try {
      const pk = (await a.createProduct({ productName: "Meter" })).product!.productKey;
      const secret = (await a.registerDevice({ productKey: pk, deviceName: "tls-0001" })).device!.deviceSecret;
      const creds = signIn(pk, "tls-0001", secret);
      const tlsCreds = { ...creds, clientId: creds.clientId.replace("securemode=3", "securemode=2") };
      const c = await new Promise<mqtt.MqttClient>((resolve, reject) => {
        const x = mqtt.connect({ protocol: "mqtts", host: "127.0.0.1", port, ca, servername: "localhost", protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...tlsCreds });
        x.once("connect", () => resolve(x));
        x.once("error", (e) => {
          x.end(true);
          reject(e);
        });
      });
      await waitFor("online", async () => ((await a.queryDeviceDetail({ productKey: pk, deviceName: "tls-0001" })).device!.status === DeviceStatus.ONLINE ? true : undefined));
      await c.endAsync();
      // plaintext MQTT against the TLS listener: no CONNACK
      const plain = await Promise.race([
        connect(port, creds).then(
          (x) => {
            x.end(true);
            return "connected";
          },
          () => "refused",
        ),
        new Promise<string>((r) => setTimeout(() => r("no answer"), 3000)),
      ]);
      assert.notEqual(plain, "connected");
    } finally {
      a.close();
    }
  });
});
