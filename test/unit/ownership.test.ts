import assert from "node:assert/strict";
import {
  AlreadyExistsError,
  RuleViolationError,
  assertCanRegisterUnder,
  assertDeviceDeletable,
  assertHeldHere,
  assertProductWritable,
  assertRetryable,
  jobStatusCode,
  registrationConflict,
  type Device,
  type Job,
  type Product,
} from "../../internal/domain/index.js";
import { parseDeviceList, toCsv, CsvError, DEVICE_LIST_TEMPLATE, jobEventsDue } from "../../internal/jobs/index.js";

const where = (id: string): string => `region-of-${id}/${id}`;
const product = (owner: string, receivedFrom = ""): Product => ({
  productKey: "a1B2c3D4e5F",
  productName: "p",
  nodeType: "device",
  dataFormat: "alink-json",
  authType: "device-secret",
  status: "developing",
  description: "",
  accountId: "1",
  ownerInstanceId: owner,
  receivedFrom,
  version: 1,
  candidates: [],
  createdAt: 0,
  updatedAt: 0,
});
const device = (over: Partial<Device>): Device => ({
  iotId: "x",
  productKey: "a1B2c3D4e5F",
  deviceName: "dev-1",
  nickname: "",
  state: "inactive",
  disabled: false,
  createdAt: 0,
  activatedAt: 0,
  lastOnlineAt: 0,
  placement: "here",
  holder: "self",
  generation: 0,
  homeInstance: "self",
  receivedFrom: "",
  arriving: false,
  ...over,
});

describe("ownership rules (pure)", () => {
  it("R9: a received product is read-only and takes no new device; the owner's own product is writable", () => {
    assertProductWritable(product("self"), "self", where);
    assertCanRegisterUnder(product("self"), "self", where);
    assert.throws(
      () => assertProductWritable(product("owner", "middle"), "self", where),
      (e: unknown) => e instanceof RuleViolationError && e.rule === "R9" && /received from region-of-middle\/middle; change it at its owner region-of-owner\/owner/.test(e.message),
    );
    assert.throws(() => assertCanRegisterUnder(product("owner"), "self", where), (e: unknown) => e instanceof RuleViolationError && e.rule === "R9");
  });

  it("R10: a name distributed away stays reserved; a name held here is merely taken", () => {
    const away = registrationConflict(device({ placement: "away", holder: "t" }), "device_name", where);
    assert.ok(away instanceof RuleViolationError && away.rule === "R10" && /distributed to region-of-t\/t/.test(away.message));
    const leaving = registrationConflict(device({ placement: "leaving" }), "device_name", where);
    assert.ok(leaving instanceof RuleViolationError && leaving.rule === "R10" && /is being distributed/.test(leaving.message));
    assert.ok(registrationConflict(device({}), "device_name", where) instanceof AlreadyExistsError);
  });

  it("R11: a received device cannot be deleted at the target; a device registered here and held here can", () => {
    assertDeviceDeletable(device({}), "self", where);
    assert.throws(
      () => assertDeviceDeletable(device({ homeInstance: "src", receivedFrom: "src" }), "self", where),
      (e: unknown) => e instanceof RuleViolationError && e.rule === "R11" && /distribute it back to region-of-src\/src, then delete it there/.test(e.message),
    );
    assert.throws(() => assertDeviceDeletable(device({ placement: "away", holder: "t" }), "self", where), /held by region-of-t\/t now/);
    assert.throws(() => assertHeldHere(device({ placement: "leaving" }), where), /being distributed/);
  });

  it("R13: job states carry the OpenAPI's numbers; only a failed job is retried (R6: completed stays completed)", () => {
    assert.deepEqual(["initializing", "running", "completed", "failed"].map((s) => jobStatusCode(s as "running")), [0, 1, 2, 3]);
    assertRetryable("j", "failed");
    for (const s of ["completed", "running", "initializing"] as const) {
      assert.throws(() => assertRetryable("j", s), (e: unknown) => e instanceof RuleViolationError && e.rule === "R13");
    }
  });
});

describe("device list CSV (R1)", () => {
  it("reads the template's format and checks every record's product", () => {
    assert.equal(DEVICE_LIST_TEMPLATE, "productKey,deviceName\n");
    assert.deepEqual(parseDeviceList("productKey,deviceName\r\na1B2c3D4e5F,dev-1\n\na1B2c3D4e5F,\"dev,2\"\n", "a1B2c3D4e5F", 1000), ["dev-1", "dev,2"]);
    assert.deepEqual(parseDeviceList("deviceName\ndev-1\n", "a1B2c3D4e5F", 1000), ["dev-1"]);
    assert.throws(() => parseDeviceList("productKey,deviceName\nzzzzzzzzzzz,dev-1\n", "a1B2c3D4e5F", 1000), /line 2: device dev-1 belongs to product zzzzzzzzzzz/);
    assert.throws(() => parseDeviceList("name\nx\n", "a1B2c3D4e5F", 1000), /deviceName column/);
    assert.throws(() => parseDeviceList("deviceName\n", "a1B2c3D4e5F", 1000), CsvError);
  });

  it("R1: a list of 1,000 records is accepted and 1,001 refused", () => {
    const list = (n: number) => "deviceName\n" + Array.from({ length: n }, (_, i) => `dev-${i}`).join("\n");
    assert.equal(parseDeviceList(list(1000), "a1B2c3D4e5F", 1000).length, 1000);
    assert.throws(() => parseDeviceList(list(1001), "a1B2c3D4e5F", 1000), /more than 1000 records.*\(R1\)/);
  });

  it("writes results as CSV with quoting", () => {
    assert.equal(toCsv(["a", "b"], [["x,y", 'say "hi"']]), 'a,b\n"x,y","say ""hi"""\n');
  });
});

describe("job events (what is announced when)", () => {
  it("one event per state change and per progress step, in the order they happened", () => {
    const job = (status: Job["status"], succeeded: number, failed = 0) => ({ status, succeeded, failed });
    assert.deepEqual(jobEventsDue(undefined, job("initializing", 0), 100), ["job.created"]);
    assert.deepEqual(jobEventsDue({ status: "initializing", settled: 0 }, job("running", 0), 100), ["job.running"]);
    assert.deepEqual(jobEventsDue({ status: "running", settled: 0 }, job("running", 99), 100), []);
    assert.deepEqual(jobEventsDue({ status: "running", settled: 99 }, job("running", 150, 50), 100), ["job.progress"]);
    assert.deepEqual(jobEventsDue({ status: "running", settled: 200 }, job("completed", 250, 50), 100), ["job.progress", "job.completed"]);
    assert.deepEqual(jobEventsDue({ status: "failed", settled: 3 }, job("running", 3), 100), ["job.running"], "a retry runs again");
    assert.deepEqual(jobEventsDue({ status: "running", settled: 3 }, job("aborted", 3), 100), ["job.aborted"]);
    assert.deepEqual(jobEventsDue({ status: "completed", settled: 1 }, job("completed", 1), 1), [], "nothing twice (after a restart)");
    assert.deepEqual(jobEventsDue(undefined, job("running", 1), 1), ["job.created", "job.running", "job.progress"]);
  });
});
