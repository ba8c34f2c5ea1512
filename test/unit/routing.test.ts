import assert from "node:assert/strict";
import { createInstanceDirectory, createRouteSync, type InstanceDirectory } from "../../internal/routing/index.js";
import { RouteTable, FLAG_DISABLED, FLAG_NEAREST } from "../../internal/routes/index.js";
import { createLogger } from "../../internal/log/index.js";
import type { RouteChange } from "../../internal/domain/index.js";
import { openTestStore, type TestStore } from "../support/store.js";

const SELF = { id: "iot-sh", region: "cn-shanghai", kind: "public" as const, mqtt: { host: "sh.example", port: 1883 } };
const PEERS = [
  { id: "iot-eu", region: "eu-central-1", kind: "public" as const, mqtt: { host: "eu.example", port: 1883 } },
  { id: "iot-us", region: "us-west-1", kind: "public" as const, mqtt: { host: "us.example", port: 1883 } },
];

/** What the edge would answer for a device: the holder's id and flags, or why not. */
function answer(t: RouteTable, pk: string, dn: string): string {
  const e = t.lookupEntry(pk, dn);
  if (e < 0) return ["", "unknown-product", "unknown-device"][-e]!;
  const flags = `${(e & FLAG_DISABLED) !== 0 ? " disabled" : ""}${(e & FLAG_NEAREST) !== 0 ? " nearest" : ""}`;
  const i = e >>> 8;
  const ep = t.endpointAt(i);
  return `${t.instanceAt(i)}@${ep === undefined ? "?" : `${ep.host}:${ep.port}`}${flags}`;
}
const candidates = (t: RouteTable, pk: string): string[] => [...(t.candidates(pk) ?? [])].map((i) => t.instanceAt(i));

/**
 * The rules that keep the in-memory RouteTable in step with the store and
 * the stream (internal/routing/route-sync.ts): whatever happens, the table
 * a daemon holds equals the table it would load from its store at start.
 */
describe("routing: the route table equals the store plus the stream", () => {
  let store: TestStore;
  let directory: InstanceDirectory;
  const log = createLogger("silent");
  const sync = (routeTable: RouteTable) => createRouteSync({ routeTable, directory, records: store.records, products: store.products, devices: store.devices, hub: store.hub, logger: log });
  beforeEach(() => {
    store = openTestStore({ self: SELF.id, regionId: SELF.region });
    directory = createInstanceDirectory({ self: SELF, peers: PEERS, records: store.records });
  });
  afterEach(() => store.close());

  it("after products, devices, a job, a received copy, stream records and a placement, a reload answers every name as the live table does", async () => {
    const live = new RouteTable();
    const liveSync = sync(live);
    await liveSync.load(store.dir);
    const { accounts, products, devices, jobs, handoff, records } = store;
    const acct = accounts.create("acme").accountId;

    // Made here: exact answers (authoritative), a disabled device, a deleted one.
    const p1 = products.create({ accountId: acct, productName: "meter", nodeType: "device", dataFormat: "alink-json", description: "", ownerInstanceId: SELF.id }).productKey;
    for (const dn of ["d-1", "d-2", "d-3", "d-4"]) devices.register(p1, { deviceName: dn, nickname: "" });
    devices.setDisabled(p1, "d-2", true);
    devices.delete(p1, "d-3");

    // A job moves d-1 to iot-eu (the target accepted): the route flips.
    const job = jobs.create({ jobType: "device", accountId: acct, productKey: p1, targetRegion: "eu-central-1", targetInstance: "iot-eu", deviceNames: ["d-1"] });
    jobs.prepare(job.jobId);
    jobs.recordOutcomes(jobs.require(job.jobId), [{ deviceName: "d-1", generation: 1, accepted: true, errorCode: "", errorMessage: "" }]);

    // A copy received from iot-eu with one device: held here; other names fall back to the owner.
    const p2 = "rEcEiVeD001";
    handoff.apply({
      jobId: "job_in_1",
      sourceInstance: "iot-eu",
      product: { productKey: p2, accountId: "9999", accountName: "euro", productName: "tracker", nodeType: "device", dataFormat: "alink-json", authType: "device-secret", status: "published", description: "", ownerInstanceId: "iot-eu", version: 3, candidates: [], topics: [], thingModel: "", script: undefined },
      devices: [{ deviceName: "r-1", deviceSecret: "s".repeat(32), iotId: "iot-id-r-1", generation: 1, homeInstance: "iot-eu", nickname: "", createdAt: 1 }],
    });
    // Accepted but not yet released by its source: still answered by the source (cut-over at commit) ...
    assert.equal(answer(live, p2, "r-1"), "iot-eu@eu.example:1883");
    // ... until the source confirms the release.
    assert.equal(handoff.confirm("job_in_1", p2, "iot-us", [{ deviceName: "r-1", generation: 1 }], false), 0, "only the instance it came from releases it");
    assert.equal(answer(live, p2, "r-1"), "iot-eu@eu.example:1883");
    assert.equal(handoff.confirm("job_in_1", p2, "iot-eu", [{ deviceName: "r-1", generation: 1 }], false), 1);
    assert.equal(handoff.confirm("job_in_1", p2, "iot-eu", [{ deviceName: "r-1", generation: 1 }], false), 0, "a repeat confirms nothing");

    // From the stream: a product that never came here, a device of it, an instance's new endpoint.
    const p3 = "sTrEaMeD001";
    const stream: RouteChange[] = [
      { kind: "product", route: { productKey: p3, home: "iot-us", version: 1, deleted: false, candidates: ["iot-us", "iot-eu"], accountId: "7777", productName: "lamp", nodeType: "device", status: "published", regionId: "us-west-1", committedBy: "iot-us", committedAt: 1 } },
      { kind: "device", route: { productKey: p3, deviceName: "x-1", holder: "iot-eu", generation: 2, nearest: false, committedBy: "iot-eu", committedAt: 1 } },
      { kind: "instance", route: { instanceId: "iot-eu", regionId: "eu-central-1", mqttHost: "eu2.example", mqttPort: 8883, version: 5, certificates: [], peerAddress: "", kind: "", committedAt: 1 } },
    ];
    liveSync.applyReplicated(records.apply(stream.map((change, i) => ({ revision: i + 1, change })), stream.length));

    // A placement learned from a holder's answer (nearest strategy).
    liveSync.learned({ productKey: p3, deviceName: "x-2", holder: "iot-us", generation: 3, nearest: true, committedBy: "iot-us", committedAt: 1 });

    // A product created and deleted here answers nothing.
    const p4 = products.create({ accountId: acct, productName: "gone", nodeType: "device", dataFormat: "alink-json", description: "", ownerInstanceId: SELF.id }).productKey;
    products.delete(p4);

    const expected: [string, string, string][] = [
      [p1, "d-1", "iot-eu@eu2.example:8883"],
      [p1, "d-2", "iot-sh@sh.example:1883 disabled"],
      [p1, "d-3", "unknown-device"],
      [p1, "d-4", "iot-sh@sh.example:1883"],
      [p1, "never", "unknown-device"],
      [p2, "r-1", "iot-sh@sh.example:1883"],
      [p2, "other", "iot-eu@eu2.example:8883"],
      [p3, "x-1", "iot-eu@eu2.example:8883"],
      [p3, "x-2", "iot-us@us.example:1883 nearest"],
      [p3, "other", "iot-us@us.example:1883"],
      [p4, "any", "unknown-product"],
    ];
    for (const [pk, dn, want] of expected) assert.equal(answer(live, pk, dn), want, `live ${pk}/${dn}`);
    assert.deepEqual(candidates(live, p3), ["iot-us", "iot-eu"], "a replicated candidate set (R3)");

    // A daemon started now on this store (and its stream position) answers the same.
    const reloaded = new RouteTable();
    const reloadedDirectory = createInstanceDirectory({ self: SELF, peers: PEERS, records: store.records });
    await createRouteSync({ routeTable: reloaded, directory: reloadedDirectory, records: store.records, products, devices, hub: store.hub, logger: log }).load(store.dir);
    for (const [pk, dn] of expected) assert.equal(answer(reloaded, pk, dn), answer(live, pk, dn), `reloaded ${pk}/${dn}`);
    assert.deepEqual(candidates(reloaded, p3), candidates(live, p3));
  });

  it("a record from the stream older than what the store holds changes neither the store nor the table", async () => {
    const live = new RouteTable();
    const s = sync(live);
    await s.load(store.dir);
    const dev = (holder: string, generation: number): RouteChange => ({ kind: "device", route: { productKey: "sTrEaMeD001", deviceName: "x-1", holder, generation, nearest: false, committedBy: holder, committedAt: 1 } });
    s.applyReplicated(store.records.apply([{ revision: 1, change: dev("iot-eu", 3) }], 1));
    s.applyReplicated(store.records.apply([{ revision: 2, change: dev("iot-us", 2) }], 2));
    assert.equal(live.deviceHolder("sTrEaMeD001", "x-1"), "iot-eu");
    assert.equal(store.records.device("sTrEaMeD001", "x-1")!.holder, "iot-eu");
  });

  it("the instance directory answers region and name the same for every caller; an instance's own record wins over the configured endpoint", () => {
    assert.equal(directory.regionOf("iot-eu"), "eu-central-1");
    assert.equal(directory.regionOf("iot-sh"), "cn-shanghai");
    assert.equal(directory.regionOf("nobody"), "", "unknown is empty, never a made-up region");
    assert.equal(directory.where("iot-us"), "us-west-1/iot-us");
    assert.equal(directory.where("nobody"), "nobody");
    assert.deepEqual(directory.members().map((m) => m.id), ["iot-sh", "iot-eu", "iot-us"]);
    directory.learn({ instanceId: "iot-eu", regionId: "eu-central-1", mqttHost: "eu2.example", mqttPort: 8883, version: 2, certificates: [], peerAddress: "", kind: "", committedAt: 1 });
    directory.learn({ instanceId: "iot-ap", regionId: "ap-southeast-1", mqttHost: "ap.example", mqttPort: 1883, version: 1, certificates: [], peerAddress: "", kind: "", committedAt: 1 });
    assert.deepEqual(directory.get("iot-eu")?.mqtt, { host: "eu2.example", port: 8883 });
    assert.equal(directory.peer("iot-eu")?.kind, "public", "still a configured peer");
    assert.equal(directory.regionOf("iot-ap"), "ap-southeast-1", "known from the directory");
    assert.equal(directory.peer("iot-ap"), undefined, "but not a peer the plane may call");
    assert.equal(directory.announceSelf(), true, "this daemon's record is committed once");
    assert.equal(directory.announceSelf(), false);
  });
});
