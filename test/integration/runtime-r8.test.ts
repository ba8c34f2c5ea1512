import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { JobStatus, NodeType } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { freePort, startFederation, waitFor, type AdminClient, type FederationMember } from "../support/daemon.js";
import { NatsServer } from "../support/nats.js";
import { waitJob } from "../support/jobs.js";
import { rejects } from "../support/grpc.js";
import { Device, THERMO_TSL } from "../support/thing.js";

/*
 * R8 complete (docs/guides/thing-model.md "When a device moves"): a
 * distributed device's tags, groups and topology (as gateway and as
 * sub-device) are cleared at the source and the job's result says so; its
 * property values, history, events and shadow stay there and are found
 * again when it comes back (keep) — or, with runtime_data: migrate, its
 * latest values and shadow go with it and the source keeps none.
 */
describe("R8: what a distributed device leaves behind and what it takes (keep | migrate)", function () {
  this.timeout(180000);
  let nats: NatsServer;
  let fed: Awaited<ReturnType<typeof startFederation>>;
  let A: FederationMember, B: FederationMember;
  let a: AdminClient, b: AdminClient;
  let accountId: string;
  let pk: string;
  let hubPk: string;
  const secrets = new Map<string, string>();
  const ports: number[] = [];
  const portOf = (m: FederationMember): number => ports[fed.members.indexOf(m)]!;
  const device = (m: FederationMember, dn: string, productKey = pk) => Device.open(portOf(m), productKey, dn, secrets.get(dn)!);
  const latest = async (c: AdminClient, dn: string): Promise<Record<string, string>> =>
    Object.fromEntries((await c.queryDevicePropertyStatus({ productKey: pk, deviceName: dn })).properties.filter((p) => p.valueJson !== "").map((p) => [p.identifier, p.valueJson]));
  const distribute = async (from: AdminClient, to: FederationMember, productKey: string, names: string[], runtimeData = "") => {
    const job = (await from.createDeviceDistributeJob({ productKey, targetRegionId: to.region, targetInstanceId: to.id, deviceNames: names, runtimeData })).job!;
    const done = await waitJob(from, job.jobId);
    assert.equal(done.status, JobStatus.COMPLETED, done.message);
    return (await from.queryDeviceDistributeDetail({ jobId: job.jobId, pageSize: 100 })).results;
  };

  before(async () => {
    nats = await NatsServer.start();
    ports.push(await freePort(), await freePort());
    fed = await startFederation(2, {
      config: { replication: { servers: [nats.url] } },
      configFor: (i) => ({
        instance: { id: `iot-${["cn-shanghai", "ap-southeast-1"][i]}-1`, kind: "public", mqtt: { host: "127.0.0.1", port: ports[i]! } },
        mqtt: { broker: { enabled: true, listen: `127.0.0.1:${ports[i]!}`, notifyGraceMs: 100 } },
      }),
    });
    [A, B] = fed.members as [FederationMember, FederationMember];
    accountId = (await A.daemon.ctlJson(["account", "create", "acme"])).account.accountId as string;
    a = A.daemon.admin(accountId);
    pk = (await a.createProduct({ productName: "Thermo" })).product!.productKey;
    await a.importThingModelTsl({ productKey: pk, tslJson: THERMO_TSL });
    hubPk = (await a.createProduct({ productName: "Hub", nodeType: NodeType.GATEWAY })).product!.productKey;
    for (const dn of ["thermo-1", "thermo-2", "thermo-3", "thermo-4", "thermo-5"]) secrets.set(dn, (await a.registerDevice({ productKey: pk, deviceName: dn })).device!.deviceSecret);
    for (const dn of ["hub-1", "hub-2"]) secrets.set(dn, (await a.registerDevice({ productKey: hubPk, deviceName: dn })).device!.deviceSecret);
    for (const p of [pk, hubPk]) await waitJob(a, (await a.createProductDistributeJob({ productKey: p, targetInstanceId: B.id })).job!.jobId);
    b = B.daemon.admin(accountId);
  });
  after(async () => {
    a?.close();
    b?.close();
    await fed?.dispose();
    await nats?.dispose();
  });

  it("a gateway distributed: its tags, group and topology are cleared at the source and its result says so; its sub-devices stay and work there; it arrives without sub-devices", async () => {
    await a.batchAddThingTopo({ productKey: hubPk, deviceName: "hub-1", subDevices: ["thermo-1", "thermo-2", "thermo-3"].map((deviceName) => ({ productKey: pk, deviceName })) });
    await a.saveDeviceProp({ productKey: hubPk, deviceName: "hub-1", props: [{ key: "site", value: "roof" }] });
    const g = (await a.createDeviceGroup({ groupName: "roof-gear" })).group!;
    await a.batchAddDeviceGroupRelations({ groupId: g.groupId, devices: [{ productKey: hubPk, deviceName: "hub-1" }, { productKey: pk, deviceName: "thermo-1" }] });
    const [r] = await distribute(a, B, hubPk, ["hub-1"]);
    assert.equal(r!.note, "R8: 1 tag, 1 group and topology with 3 sub-devices (they stay here, without their gateway) cleared");
    assert.deepEqual((await a.getThingTopo({ productKey: hubPk, deviceName: "hub-1" })).subDevices, []);
    assert.deepEqual((await a.queryDeviceListByDeviceGroup({ groupId: g.groupId })).devices.map((d) => d.deviceName), ["thermo-1"], "only the gateway left the group");
    assert.deepEqual((await b.getThingTopo({ productKey: hubPk, deviceName: "hub-1" })).subDevices, [], "no sub-device at the target until one is added there");
    const sub = await device(A, "thermo-1");
    try {
      assert.equal((await sub.post({ temp: 19 })).code, 200, "a sub-device left behind still works at the source, on its own");
    } finally {
      sub.end();
    }
  });

  it("a sub-device distributed: its place under its gateway is cleared and said; it has no gateway at the target", async () => {
    await a.batchAddThingTopo({ productKey: hubPk, deviceName: "hub-2", subDevices: [{ productKey: pk, deviceName: "thermo-3" }] });
    const [r] = await distribute(a, B, pk, ["thermo-3"]);
    assert.equal(r!.note, `R8: topology under gateway ${hubPk}/hub-2 cleared`);
    assert.deepEqual((await a.getThingTopo({ productKey: hubPk, deviceName: "hub-2" })).subDevices, []);
    // At the target it has no gateway until one adds it (hub-1 arrived there in the test before).
    assert.equal((await b.batchAddThingTopo({ productKey: hubPk, deviceName: "hub-1", subDevices: [{ productKey: pk, deviceName: "thermo-3" }] })).added, 1);
    assert.deepEqual((await b.getThingTopo({ productKey: hubPk, deviceName: "hub-1" })).subDevices.map((d) => d.deviceName), ["thermo-3"]);
  });

  it("keep: the values posted at the source stay there; back from the target, the source's values from before are found, the target's are not", async () => {
    const atA = await device(A, "thermo-4");
    assert.equal((await atA.post({ temp: 10, level: 1 })).code, 200);
    atA.end();
    await a.updateDeviceShadow({ productKey: pk, deviceName: "thermo-4", shadowJson: '{"desired":{"level":4}}' });
    const [out] = await distribute(a, B, pk, ["thermo-4"]);
    assert.equal(out!.note, "", "nothing to clear");
    assert.deepEqual(await latest(b, "thermo-4"), {}, "nothing travelled (keep)");
    assert.equal((await b.getDeviceShadow({ productKey: pk, deviceName: "thermo-4" })).shadowJson, "{}");
    const atB = await waitFor("thermo-4 to sign in at B", async () => device(B, "thermo-4").catch(() => undefined), 10000, 200);
    assert.equal((await atB.post({ temp: 20 })).code, 200);
    atB.end();
    await distribute(b, A, pk, ["thermo-4"]);
    assert.deepEqual(await latest(a, "thermo-4"), { temp: "10", level: "1" }, "the source's values from before");
    assert.equal((await a.getDeviceShadow({ productKey: pk, deviceName: "thermo-4" })).shadowJson, '{"desired":{"level":4}}');
    assert.deepEqual(await latest(b, "thermo-4"), { temp: "20" }, "the target keeps what was posted there");
  });

  it("migrate: the latest values and the shadow go with the device and the source keeps none, both ways; the nearest strategy cannot migrate", async () => {
    const atA = await device(A, "thermo-5");
    assert.equal((await atA.post({ temp: 11, mode: 1 })).code, 200);
    atA.end();
    await a.updateDeviceShadow({ productKey: pk, deviceName: "thermo-5", shadowJson: '{"reported":{"mode":1}}' });
    await distribute(a, B, pk, ["thermo-5"], "migrate");
    assert.deepEqual(await latest(b, "thermo-5"), { temp: "11", mode: "1" });
    assert.equal((await b.getDeviceShadow({ productKey: pk, deviceName: "thermo-5" })).shadowJson, '{"reported":{"mode":1}}');
    assert.deepEqual(await latest(a, "thermo-5"), {}, "the source keeps no latest value");
    assert.equal((await a.getDeviceShadow({ productKey: pk, deviceName: "thermo-5" })).shadowJson, "{}", "nor the shadow");
    // And back: what was posted at the target comes home with it, and the target keeps none.
    const atB = await waitFor("thermo-5 to sign in at B", async () => device(B, "thermo-5").catch(() => undefined), 10000, 200);
    assert.equal((await atB.post({ temp: 33 })).code, 200);
    atB.end();
    await distribute(b, A, pk, ["thermo-5"], "migrate");
    assert.deepEqual(await latest(a, "thermo-5"), { temp: "33", mode: "1" }, "the target's values, back at the source");
    assert.deepEqual(await latest(b, "thermo-5"), {});
    await rejects(
      a.createDeviceDistributeJob({ productKey: pk, strategy: "nearest", candidates: [{ regionId: A.region, instanceId: A.id }, { regionId: B.region, instanceId: B.id }], deviceNames: ["thermo-2"], runtimeData: "migrate" }),
      grpc.status.INVALID_ARGUMENT,
      /runtime_data: migrate moves data with devices a job moves now/,
    );
    await rejects(a.createDeviceDistributeJob({ productKey: pk, targetInstanceId: B.id, deviceNames: ["thermo-2"], runtimeData: "copy" }), grpc.status.INVALID_ARGUMENT, /runtime_data: must be keep or migrate/);
  });
});
