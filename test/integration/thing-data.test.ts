import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { DeviceStatus, NodeType } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { freePort, TestDaemon, waitFor, type AdminClient } from "../support/daemon.js";
import { rejects } from "../support/grpc.js";
import { Device, subDeviceSign, THERMO_TSL } from "../support/thing.js";

/*
 * Thing-model data over MQTT (docs/guides/thing-model.md), with real mqtt
 * clients against the embedded broker: property posts checked against the
 * thing model (each data type, ranges, unknown identifiers) and answered
 * with the platform's codes; a bounded history; events; property sets and
 * service calls answered by the device; groups; a gateway adding
 * sub-devices with their signs and bringing one online through its session.
 */

describe("thing-model data over MQTT: property posts, history, events, property sets, service calls, groups, gateways", function () {
  this.timeout(60000);
  let d: TestDaemon;
  let a: AdminClient;
  let port: number;
  let pk: string;
  let dev: Device;
  let accountId: string;
  const secrets = new Map<string, string>();

  before(async () => {
    port = await freePort();
    d = new TestDaemon({
      config: {
        instance: { id: "iot-cn-shanghai-1", kind: "public", mqtt: { host: "127.0.0.1", port } },
        mqtt: { broker: { enabled: true, listen: `127.0.0.1:${port}` } },
        runtimeData: { historyPerProperty: 5, eventsPerDevice: 3, trimIntervalMs: 200, callTimeoutMs: 2000 },
      },
    });
    await d.start();
    accountId = (await d.ctlJson(["account", "create", "acme"])).account.accountId as string;
    a = d.admin(accountId);
    pk = (await a.createProduct({ productName: "Thermo" })).product!.productKey;
    await a.importThingModelTsl({ productKey: pk, tslJson: THERMO_TSL });
    for (const dn of ["thermo-1", "thermo-2"]) secrets.set(dn, (await a.registerDevice({ productKey: pk, deviceName: dn })).device!.deviceSecret);
    dev = await Device.open(port, pk, "thermo-1", secrets.get("thermo-1")!);
  });
  after(async () => {
    dev?.end();
    a?.close();
    await d?.dispose();
  });

  const status = async (dn = "thermo-1"): Promise<Record<string, string>> =>
    Object.fromEntries((await a.queryDevicePropertyStatus({ productKey: pk, deviceName: dn })).properties.filter((p) => p.valueJson !== "").map((p) => [p.identifier, p.valueJson]));

  it("a valid post of every data type is stored and answered 200; QueryDevicePropertyStatus returns the latest values", async () => {
    const r = await dev.post({ temp: 21.5, power: 1, mode: 1, label: "kitchen", level: 3, pos: { x: 1, y: -2 }, samples: [1, 2, 3], since: { value: "1700000000000", time: 1700000000000 } });
    assert.equal(r.code, 200, r.message);
    assert.deepEqual(await status(), { temp: "21.5", power: "1", mode: "1", label: '"kitchen"', level: "3", pos: '{"x":1,"y":-2}', samples: "[1,2,3]", since: '"1700000000000"' });
    const since = (await a.queryDevicePropertyStatus({ productKey: pk, deviceName: "thermo-1" })).properties.find((p) => p.identifier === "since")!;
    assert.equal(since.timeMs, 1700000000000n, "a value's own time is kept");
  });

  it("invalid posts get the code of what is wrong and change nothing: unknown property, each type's range and shape, malformed JSON", async () => {
    const before = await status();
    const cases: [unknown, number, RegExp][] = [
      [{ humidity: 40 }, 6320, /params\.humidity: is not a property/],
      [{ temp: 99.5 }, 6307, /params\.temp: 99\.5 is outside -40\.\.85/],
      [{ temp: "hot" }, 6301, /params\.temp: must be a number/],
      [{ level: 11 }, 6306, /params\.level: 11 is outside 0\.\.10/],
      [{ level: 2.5 }, 6301, /must be an integer/],
      [{ mode: 7 }, 6309, /params\.mode: 7 is not one of 0, 1/],
      [{ power: 2 }, 6309, /params\.power: 2 is not 0 or 1/],
      [{ label: "much too long" }, 6310, /params\.label: is 13 bytes; at most 8/],
      [{ pos: { x: 1 } }, 6304, /params\.pos\.y: is missing/],
      [{ pos: { x: 1, y: 2, z: 3 } }, 6304, /params\.pos\.z: is not defined/],
      [{ samples: [1, 2, 3, 4] }, 6324, /params\.samples: has 4 items; at most 3/],
      [{ samples: [1, "two"] }, 6301, /params\.samples\[1\]: must be a number/],
      [{ since: "yesterday" }, 6312, /params\.since: must be UTC milliseconds/],
      [{}, 460, /params: holds no property/],
      [{ temp: 20, level: 99 }, 6306, /params\.level/],
    ];
    for (const [params, code, why] of cases) {
      const r = await dev.post(params);
      assert.equal(r.code, code, `${JSON.stringify(params)}: ${r.message}`);
      assert.match(r.message, why);
    }
    const bad = await dev.request(`/sys/${pk}/thermo-1/thing/event/property/post`, undefined, undefined, "{not json");
    assert.equal(bad.code, 460);
    const wrongMethod = await dev.request(`/sys/${pk}/thermo-1/thing/event/property/post`, { temp: 20 }, "thing.service.property.set");
    assert.equal(wrongMethod.code, 6300);
    assert.deepEqual(await status(), before, "a refused post stores nothing, not even its valid part");
    const counted = (await d.metrics()).split("\n").find((l) => l.startsWith('iotfed_thing_messages_total{kind="property",code="6307"}'));
    assert.ok(counted !== undefined && Number(counted.split(" ").pop()) >= 1, "refusals are counted by code");
  });

  it("history: QueryDevicePropertyData pages through a property's values in time order, and keeps the newest 5 (runtimeData.historyPerProperty)", async () => {
    const t0 = Date.now() - 100_000;
    for (let i = 0; i < 12; i++) assert.equal((await dev.post({ level: i % 11, temp: { value: i, time: t0 + i * 1000 } })).code, 200);
    await waitFor("the trim", async () => {
      const all = await a.queryDevicePropertyData({ productKey: pk, deviceName: "thermo-1", identifier: "temp", pageSize: 100 });
      return all.points.length <= 5 ? all : undefined;
    }, 5000, 100);
    const first = await a.queryDevicePropertyData({ productKey: pk, deviceName: "thermo-1", identifier: "temp", asc: true, pageSize: 2, startTimeMs: BigInt(t0) });
    // The newest five by time: 8-11 (posted with their own times) and the 21.5 posted first, at its arrival.
    assert.deepEqual(first.points.map((p) => p.valueJson), ["8", "9"], "the oldest kept first");
    const rest = await a.queryDevicePropertyData({ productKey: pk, deviceName: "thermo-1", identifier: "temp", asc: true, pageSize: 10, startTimeMs: BigInt(t0), pageToken: first.nextPageToken });
    assert.deepEqual(rest.points.map((p) => p.valueJson), ["10", "11", "21.5"]);
    assert.equal(rest.nextPageToken, "");
    const newest = await a.queryDevicePropertyData({ productKey: pk, deviceName: "thermo-1", identifier: "temp", pageSize: 1, endTimeMs: BigInt(t0 + 11_000) });
    assert.equal(newest.points[0]!.valueJson, "11", "a range ends where asked");
    await rejects(a.queryDevicePropertyData({ productKey: pk, deviceName: "thermo-1", identifier: "nope" }), grpc.status.INVALID_ARGUMENT, /identifier: nope is not a property/);
    await rejects(a.queryDevicePropertyData({ productKey: pk, deviceName: "thermo-1", identifier: "temp", startTimeMs: 10n, endTimeMs: 5n }), grpc.status.INVALID_ARGUMENT, /end_time_ms/);
  });

  it("events: posted, checked against the event's output, kept (the newest 3), and read with QueryDeviceEventData", async () => {
    const topic = (id: string) => `/sys/${pk}/thermo-1/thing/event/${id}/post`;
    for (let i = 0; i < 5; i++) assert.equal((await dev.request(topic("overheat"), { value: { temp: 90 + i }, time: Date.now() - 1000 + i }, "thing.event.overheat.post")).code, 200);
    assert.equal((await dev.request(topic("overheat"), { value: { temp: 90, smoke: 1 } })).code, 6304);
    assert.equal((await dev.request(topic("meltdown"), { value: {} })).code, 6321);
    const events = await waitFor("the trim", async () => {
      const e = await a.queryDeviceEventData({ productKey: pk, deviceName: "thermo-1", pageSize: 10 });
      return e.events.length <= 3 ? e : undefined;
    }, 5000, 100);
    assert.deepEqual(events.events.map((e) => [e.identifier, e.eventType, e.outputJson]), [["overheat", "alert", '{"temp":94}'], ["overheat", "alert", '{"temp":93}'], ["overheat", "alert", '{"temp":92}']]);
  });

  it("SetDeviceProperty reaches the online device and returns its reply; a read-only property or an offline device is refused", async () => {
    const [res, req] = await Promise.all([a.setDeviceProperty({ productKey: pk, deviceName: "thermo-1", itemsJson: '{"power":0,"mode":0}' }), dev.answerNext("property/set", 200)]);
    assert.deepEqual(req.params, { power: 0, mode: 0 });
    assert.equal(req.method, "thing.service.property.set");
    assert.equal(res.code, 200);
    assert.equal(res.messageId, req.id);
    const [refused] = await Promise.all([a.setDeviceProperty({ productKey: pk, deviceName: "thermo-1", itemsJson: '{"level":5}' }), dev.answerNext("property/set", 9201)]);
    assert.equal(refused.code, 9201, "the device's own code comes back");
    await rejects(a.setDeviceProperty({ productKey: pk, deviceName: "thermo-1", itemsJson: '{"temp":20}' }), grpc.status.INVALID_ARGUMENT, /items\.temp: is read-only/);
    await rejects(a.setDeviceProperty({ productKey: pk, deviceName: "thermo-1", itemsJson: '{"level":50}' }), grpc.status.INVALID_ARGUMENT, /items\.level: 50 is outside 0\.\.10/);
    await rejects(a.setDeviceProperty({ productKey: pk, deviceName: "thermo-1", itemsJson: "[1]" }), grpc.status.INVALID_ARGUMENT, /items_json: must be a JSON object/);
    await rejects(a.setDeviceProperty({ productKey: pk, deviceName: "thermo-2", itemsJson: '{"power":1}' }), grpc.status.FAILED_PRECONDITION, /is not online here/);
    await rejects(a.setDeviceProperty({ productKey: pk, deviceName: "thermo-1", itemsJson: '{"power":1}' }), grpc.status.DEADLINE_EXCEEDED, /did not reply within 2000 ms/);
  });

  it("InvokeThingService calls a service with its input checked, and returns the device's output", async () => {
    dev.inbox.length = 0;
    const [res, req] = await Promise.all([a.invokeThingService({ productKey: pk, deviceName: "thermo-1", identifier: "reboot", argsJson: '{"delay":5}' }), dev.answerNext("reboot", 200, { ok: 1 })]);
    assert.deepEqual(req.params, { delay: 5 });
    assert.equal(req.method, "thing.service.reboot");
    assert.equal(res.code, 200);
    assert.deepEqual(JSON.parse(res.dataJson), { ok: 1 });
    await rejects(a.invokeThingService({ productKey: pk, deviceName: "thermo-1", identifier: "reboot", argsJson: '{"delay":100}' }), grpc.status.INVALID_ARGUMENT, /args\.delay: 100 is outside 0\.\.60/);
    await rejects(a.invokeThingService({ productKey: pk, deviceName: "thermo-1", identifier: "explode", argsJson: "{}" }), grpc.status.INVALID_ARGUMENT, /identifier: explode is not a service/);
  });

  it("groups: create, add devices, list both ways, remove, delete — names unique in the account", async () => {
    const g = (await a.createDeviceGroup({ groupName: "kitchen", groupDesc: "the kitchen's sensors" })).group!;
    await rejects(a.createDeviceGroup({ groupName: "kitchen" }), grpc.status.ALREADY_EXISTS, /group kitchen already exists/);
    await rejects(a.createDeviceGroup({ groupName: "k" }), grpc.status.INVALID_ARGUMENT, /group_name: must be 4-30/);
    const devices = ["thermo-1", "thermo-2"].map((dn) => ({ productKey: pk, deviceName: dn }));
    assert.equal((await a.batchAddDeviceGroupRelations({ groupId: g.groupId, devices })).added, 2);
    assert.equal((await a.batchAddDeviceGroupRelations({ groupId: g.groupId, devices })).added, 0, "adding again changes nothing");
    await rejects(a.batchAddDeviceGroupRelations({ groupId: g.groupId, devices: [{ productKey: pk, deviceName: "ghost" }] }), grpc.status.NOT_FOUND, /ghost/);
    assert.deepEqual((await a.queryDeviceListByDeviceGroup({ groupId: g.groupId })).devices.map((x) => x.deviceName), ["thermo-1", "thermo-2"]);
    assert.deepEqual((await a.queryDeviceGroupByDevice({ productKey: pk, deviceName: "thermo-2" })).groups.map((x) => [x.groupName, x.deviceCount]), [["kitchen", 2]]);
    assert.equal((await a.batchDeleteDeviceGroupRelations({ groupId: g.groupId, devices: [devices[1]!] })).removed, 1);
    assert.deepEqual((await a.queryDeviceGroupList({})).groups.map((x) => [x.groupName, x.deviceCount]), [["kitchen", 1]]);
    await a.deleteDeviceGroup({ groupId: g.groupId });
    assert.deepEqual((await a.queryDeviceGroupByDevice({ productKey: pk, deviceName: "thermo-1" })).groups, []);
    assert.ok((await a.queryDeviceDetail({ productKey: pk, deviceName: "thermo-1" })).device !== undefined, "a deleted group's devices stay");
  });

  it("iotfedctl: thing props, history and events, set and call; group create, add, of; topo list", async () => {
    const ctl = (args: string[]) => d.ctlJson(["-A", accountId, ...args]);
    const props = (await ctl(["thing", "props", pk, "thermo-1"])) as { properties: { identifier: string; valueJson?: string }[] };
    assert.equal(props.properties.find((p) => p.identifier === "label")?.valueJson, '"kitchen"');
    const history = (await ctl(["thing", "history", pk, "thermo-1", "temp", "--page-size", "2"])) as { points: { valueJson: string }[] };
    assert.equal(history.points.length, 2);
    const events = (await ctl(["thing", "events", pk, "thermo-1", "--identifier", "overheat", "--asc"])) as { events: { outputJson: string }[] };
    assert.equal(events.events[0]!.outputJson, '{"temp":92}');
    const [set] = await Promise.all([ctl(["thing", "set", pk, "thermo-1", '{"label":"hall"}']), dev.answerNext("property/set", 200)]);
    assert.equal((set as { code: number }).code, 200);
    const [call] = await Promise.all([ctl(["thing", "call", pk, "thermo-1", "reboot", '{"delay":1}']), dev.answerNext("reboot", 200, { ok: 1 })]);
    assert.equal((call as { dataJson: string }).dataJson, '{"ok":1}');
    const g = ((await ctl(["group", "create", "hallway", "-d", "by the door"])) as { group: { groupId: string } }).group;
    await ctl(["group", "add", g.groupId, `${pk}/thermo-1`]);
    assert.deepEqual(((await ctl(["group", "of", pk, "thermo-1"])) as { groups: { groupName: string }[] }).groups.map((x) => x.groupName), ["hallway"]);
    assert.deepEqual(((await ctl(["topo", "list", pk, "thermo-1"])) as { subDevices?: unknown[] }).subDevices ?? [], [], "not a gateway: no sub-devices");
    const usage = await d.ctl(["-A", accountId, "group", "add", g.groupId, "no-slash"]);
    assert.equal(usage.code, 2, usage.stderr);
    assert.match(usage.stderr, /no-slash: must be productKey\/deviceName/);
  });

  it("a gateway adds sub-devices over MQTT with their signs, brings one online through its session, and posts its data; a sub-device not logged in gets nothing through", async () => {
    const gwPk = (await a.createProduct({ productName: "Hub", nodeType: NodeType.GATEWAY })).product!.productKey;
    const gwSecret = (await a.registerDevice({ productKey: gwPk, deviceName: "hub-1" })).device!.deviceSecret;
    const gw = await Device.open(port, gwPk, "hub-1", gwSecret);
    try {
      await gw.client.subscribeAsync(`/ext/session/${gwPk}/hub-1/combine/#`);
      const topo = `/sys/${gwPk}/hub-1/thing/topo/add`;
      const badSign = { ...subDeviceSign(pk, "thermo-2", secrets.get("thermo-2")!), sign: "0".repeat(64) };
      const refused = await gw.request(topo, [subDeviceSign(pk, "thermo-1", secrets.get("thermo-1")!), badSign], "thing.topo.add");
      assert.equal(refused.code, 6402);
      assert.match(refused.message, /params\[1\]\.sign: does not check/);
      assert.deepEqual((await a.getThingTopo({ productKey: gwPk, deviceName: "hub-1" })).subDevices, [], "refused whole");
      const added = await gw.request(topo, ["thermo-1", "thermo-2"].map((dn) => subDeviceSign(pk, dn, secrets.get(dn)!)), "thing.topo.add");
      assert.equal(added.code, 200, added.message);
      assert.deepEqual((await a.getThingTopo({ productKey: gwPk, deviceName: "hub-1" })).subDevices.map((s) => s.deviceName), ["thermo-1", "thermo-2"]);
      // thermo-2 through the gateway: not logged in yet, so its topics are not the gateway's.
      await assert.rejects(gw.client.subscribeAsync(`/sys/${pk}/thermo-2/thing/#`), /Subscribe error/, "subscription refused");
      const login = await gw.request(`/ext/session/${gwPk}/hub-1/combine/login`, subDeviceSign(pk, "thermo-2", secrets.get("thermo-2")!), "combine.login");
      assert.equal(login.code, 200, login.message);
      assert.equal((await a.queryDeviceDetail({ productKey: pk, deviceName: "thermo-2" })).device!.status, DeviceStatus.ONLINE, "online through the gateway");
      const sub = await gw.client.subscribeAsync(`/sys/${pk}/thermo-2/thing/#`);
      assert.notEqual(sub[0]!.qos, 128);
      const viaGw = await gw.request(`/sys/${pk}/thermo-2/thing/event/property/post`, { temp: 30 }, "thing.event.property.post");
      assert.equal(viaGw.code, 200, viaGw.message);
      assert.deepEqual(await status("thermo-2"), { temp: "30" });
      // A property set to the sub-device reaches the gateway.
      const set = a.setDeviceProperty({ productKey: pk, deviceName: "thermo-2", itemsJson: '{"level":2}' });
      const m = await waitFor("the set at the gateway", () => Promise.resolve(gw.inbox.find((x) => x.topic === `/sys/${pk}/thermo-2/thing/service/property/set`)), 5000, 10);
      await gw.client.publishAsync(`/sys/${pk}/thermo-2/thing/service/property/set_reply`, JSON.stringify({ id: m.doc.id, code: 200, data: {} }));
      assert.equal((await set).code, 200);
      await gw.request(`/ext/session/${gwPk}/hub-1/combine/logout`, { productKey: pk, deviceName: "thermo-2" }, "combine.logout");
      assert.equal((await a.queryDeviceDetail({ productKey: pk, deviceName: "thermo-2" })).device!.status, DeviceStatus.OFFLINE);
      await rejects(a.setDeviceProperty({ productKey: pk, deviceName: "thermo-2", itemsJson: '{"level":2}' }), grpc.status.FAILED_PRECONDITION, /is not online here/);
    } finally {
      gw.end();
    }
  });
});
