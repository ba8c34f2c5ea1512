import assert from "node:assert/strict";
import { openTestStore, type TestStore } from "../support/store.js";

/** The nearest strategy's store side (R3): marking devices, the candidate set, and placement jobs. */
describe("store: nearest strategy (R3)", () => {
  let store: TestStore | undefined;
  let t = 1_700_000_000_000;
  const setup = () => {
    store = openTestStore({ self: "iot-sh", now: () => t });
    const { records, outbox, products, devices, jobs } = store;
    const changed: string[] = [];
    store.hub.on("device.changed", (d) => changed.push(`${d.deviceName}@${d.holder}`));
    const a = store.accounts.create("acme");
    const p = products.create({ accountId: a.accountId, productName: "meter", nodeType: "device", dataFormat: "alink-json", description: "", ownerInstanceId: "iot-sh" });
    for (const dn of ["m-1", "m-2", "m-3"]) devices.register(p.productKey, { deviceName: dn, nickname: "" });
    return { records, outbox, products, devices, jobs, pk: p.productKey, accountId: a.accountId, changed };
  };
  afterEach(() => {
    store?.close();
    store = undefined;
  });

  it("R3: a nearest job marks each listed device nearest-placed at a new generation, held here, and queues its route", () => {
    const { records: routes, outbox, jobs, devices, pk, accountId, changed } = setup();
    const outboxBefore = outbox.depth().rows;
    const j = jobs.create({ jobType: "device", accountId, productKey: pk, strategy: "nearest", candidates: ["iot-sh", "iot-eu", "iot-us"], targetRegion: "", targetInstance: "", deviceNames: ["m-1", "m-2", "nope"] });
    assert.deepEqual(j.candidates, ["iot-sh", "iot-eu", "iot-us"]);
    const after = jobs.prepare(j.jobId);
    assert.equal(after.succeeded, 2);
    assert.equal(after.failed, 1, "a device that does not exist fails alone (R13)");
    for (const dn of ["m-1", "m-2"]) {
      const r = routes.device(pk, dn)!;
      assert.equal(r.nearest, true);
      assert.equal(r.holder, "iot-sh");
      assert.equal(r.generation, 1);
      const d = devices.get(pk, dn)!;
      assert.equal(d.placement, "here", "the device stays until it bootstraps");
      assert.equal(d.generation, 1);
    }
    assert.equal(routes.device(pk, "m-3"), undefined, "a device not listed is untouched");
    assert.equal(outbox.depth().rows - outboxBefore, 2, "both routes wait for publication");
    assert.deepEqual(changed.slice(-2), ["m-1@iot-sh", "m-2@iot-sh"]);
    assert.deepEqual([...routes.nearestDevices()].map((r) => r.deviceName), ["m-1", "m-2"]);
  });

  it("R3: the product's candidate set bumps its version and goes into its route, once", () => {
    const { products, records, pk } = setup();
    const v = products.get(pk)!.version;
    assert.equal(products.setCandidates(pk, ["iot-sh", "iot-eu"]), true);
    assert.equal(products.get(pk)!.version, v + 1);
    assert.deepEqual(products.get(pk)!.candidates, ["iot-sh", "iot-eu"]);
    const route = records.product(pk)!;
    assert.deepEqual({ candidates: route.candidates, version: route.version, deleted: route.deleted }, { candidates: ["iot-sh", "iot-eu"], version: v + 1, deleted: false });
    assert.equal(products.setCandidates(pk, ["iot-sh", "iot-eu"]), false, "the same set again changes nothing");
    assert.equal(products.get(pk)!.version, v + 1);
  });

  it("a placement is one job per device and target: a repeat returns it, another target or a device not nearest-placed is refused", () => {
    const { jobs, pk, accountId } = setup();
    const nj = jobs.create({ jobType: "device", accountId, productKey: pk, strategy: "nearest", candidates: ["iot-sh", "iot-eu", "iot-us"], targetRegion: "", targetInstance: "", deviceNames: ["m-1"] });
    jobs.prepare(nj.jobId);

    const first = jobs.placement(pk, "m-1", accountId, "eu-central-1", "iot-eu");
    assert.ok("job" in first && first.created);
    assert.equal(first.job.strategy, "placement");
    assert.equal(first.job.targetInstance, "iot-eu");
    assert.equal(first.job.status, "running");
    const again = jobs.placement(pk, "m-1", accountId, "eu-central-1", "iot-eu");
    assert.ok("job" in again && !again.created && again.job.jobId === first.job.jobId, "deduplicated");
    const other = jobs.placement(pk, "m-1", accountId, "us-west-1", "iot-us");
    assert.ok("refused" in other && /being distributed by job/.test(other.refused));
    const plain = jobs.placement(pk, "m-2", accountId, "eu-central-1", "iot-eu");
    assert.ok("refused" in plain && /not placed by the nearest strategy/.test(plain.refused));
    const missing = jobs.placement(pk, "zz-9", accountId, "eu-central-1", "iot-eu");
    assert.ok("refused" in missing && /does not exist/.test(missing.refused));

    // the move commits: the route follows, still nearest-placed, and the device is away
    const j = jobs.recordOutcomes(jobs.require(first.job.jobId), [{ deviceName: "m-1", generation: 2, accepted: true, errorCode: "", errorMessage: "" }]);
    assert.equal(j.status, "running", "the job completes once its target confirmed the release (step 5)");
    assert.deepEqual(jobs.unconfirmed().map((u) => [u.jobId, u.devices.map((d) => d.deviceName)]), [[j.jobId, ["m-1"]]]);
    jobs.confirmed(j.jobId, ["m-1"]);
    assert.equal(jobs.allConfirmed(j.jobId), true);
    assert.equal(jobs.complete(j.jobId).status, "completed");
    const away = jobs.placement(pk, "m-1", accountId, "us-west-1", "iot-us");
    assert.ok("refused" in away && /held by iot-eu/.test(away.refused), "only the holder moves it");
  });

  it("a placement that failed (target unreachable past the retry window) is offered for retry after the configured age", () => {
    const { jobs, pk, accountId } = setup();
    jobs.prepare(jobs.create({ jobType: "device", accountId, productKey: pk, strategy: "nearest", candidates: ["iot-sh", "iot-eu"], targetRegion: "", targetInstance: "", deviceNames: ["m-1"] }).jobId);
    const p = jobs.placement(pk, "m-1", accountId, "eu-central-1", "iot-eu");
    assert.ok("job" in p);
    jobs.fail(p.job.jobId, "target iot-eu unreachable");
    assert.deepEqual(jobs.failedPlacements(30000), [], "not yet");
    t += 30000;
    assert.deepEqual(jobs.failedPlacements(30000), [p.job.jobId]);
    // the device waits, leaving, for that job (never two holders); the retry runs the same job again
    const again = jobs.placement(pk, "m-1", accountId, "eu-central-1", "iot-eu");
    assert.ok("job" in again && again.job.jobId === p.job.jobId && again.job.status === "failed");
    assert.equal(jobs.retry(p.job.jobId).status, "running");
    assert.deepEqual(jobs.failedPlacements(0), []);
  });
});
