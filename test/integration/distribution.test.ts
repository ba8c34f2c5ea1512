import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { JobStatus, DevicePlacement, TopicOperation, ScriptType, DeviceStatus } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { bootstrap, startFederation, waitFor, type AdminClient, type FederationMember } from "../support/daemon.js";
import { allDevices, waitJob } from "../support/jobs.js";

type Fed = Awaited<ReturnType<typeof startFederation>>;

describe("distribution between three regions (specified region, same account)", function () {
  this.timeout(180000);
  let fed: Fed;
  let A: FederationMember, B: FederationMember, C: FederationMember;
  let a: AdminClient, b: AdminClient, c: AdminClient;
  let accountId: string;
  let pk: string;

  before(async () => {
    fed = await startFederation(3);
    [A, B, C] = fed.members as [FederationMember, FederationMember, FederationMember];
    const acct = await A.daemon.ctlJson(["account", "create", "acme"]);
    accountId = acct.account.accountId;
    a = A.daemon.admin(accountId);
    b = B.daemon.admin(accountId);
    c = C.daemon.admin(accountId);
    pk = (await a.createProduct({ productName: "Meter" })).product!.productKey;
    await a.createProductTopic({ productKey: pk, topicShortName: "update", operation: TopicOperation.PUB });
    await a.importThingModelTsl({ productKey: pk, tslJson: '{"properties":[{"identifier":"kwh","name":"kWh","accessMode":"r","dataType":{"type":"double","specs":{}}}]}' });
    await a.createThingScript({ productKey: pk, scriptType: ScriptType.JAVASCRIPT, scriptContent: "function protocolToRawData(j){return [];}" });
    const batch = await a.batchRegisterDevice({ productKey: pk, deviceNames: Array.from({ length: 1000 }, (_, i) => `meter-${String(i).padStart(4, "0")}`) });
    assert.equal(batch.successCount, 1000);
    await a.batchRegisterDevice({ productKey: pk, deviceNames: Array.from({ length: 10 }, (_, i) => `spare-${i}xx`) });
  });
  after(async () => {
    for (const x of [a, b, c]) x?.close();
    await fed?.dispose();
  });

  it("R2: a product-only job carries the product's info, topic classes, thing model and script", async () => {
    const pk2 = (await a.createProduct({ productName: "Gateway box", description: "v1" })).product!.productKey;
    await a.createProductTopic({ productKey: pk2, topicShortName: "cmd/+", operation: TopicOperation.SUB });
    const tsl = '{"properties":[{"identifier":"on","name":"On","accessMode":"rw","dataType":{"type":"bool","specs":{"0":"off","1":"on"}}}]}';
    await a.importThingModelTsl({ productKey: pk2, tslJson: tsl });
    await a.createThingScript({ productKey: pk2, scriptType: ScriptType.PYTHON, scriptContent: "def f(x):\n    return x\n" });
    const r = await A.daemon.ctlJson(["job", "create-product", pk2, "--target-instance", B.id, "--target-region", B.region], { asAccount: accountId });
    const job = await waitJob(a, r.job.jobId);
    assert.equal(job.status, JobStatus.COMPLETED);
    assert.equal(job.statusCode, 2);
    assert.equal(job.total, 0);
    const copy = (await b.queryProduct({ productKey: pk2 })).product!;
    assert.equal(copy.productName, "Gateway box");
    assert.equal(copy.ownerInstanceId, A.id);
    assert.equal((await b.queryProductTopic({ productKey: pk2 })).topics[0]!.topicShortName, "cmd/+");
    assert.deepEqual(JSON.parse((await b.getThingModelTsl({ productKey: pk2 })).tslJson), JSON.parse((await a.getThingModelTsl({ productKey: pk2 })).tslJson));
    const script = await b.getThingScript({ productKey: pk2 });
    assert.equal(script.scriptType, ScriptType.PYTHON);
    assert.equal(script.scriptContent, "def f(x):\n    return x\n");
    assert.equal(copy.description, "v1");
    assert.deepEqual(
      (await A.daemon.ctlJson(["distributed", "products"], { asAccount: accountId })).products.map((p: { productKey: string; targetInstanceId: string }) => `${p.productKey}@${p.targetInstanceId}`),
      [`${pk2}@${B.id}`],
    );
  });

  it("R1, R2: a job over the limit, with an unknown target, a wrong region, an empty or repeated list is refused whole", async () => {
    const cases: [string[], RegExp][] = [
      [["job", "create", pk, "--target-instance", B.id, "--devices", Array.from({ length: 1001 }, (_, i) => `meter-${String(i).padStart(4, "0")}`).join(",")], /INVALID_ARGUMENT: device_names: holds 1001 devices; at most 1000/],
      [["job", "create", pk, "--target-instance", "iot-nowhere-9", "--devices", "meter-0001"], /target_instance_id: iot-nowhere-9 is not a configured peer/],
      [["job", "create", pk, "--target-instance", B.id, "--target-region", "eu-central-1", "--devices", "meter-0001"], /target_region_id: instance .* is in region ap-southeast-1/],
      [["job", "create", pk, "--target-instance", A.id, "--devices", "meter-0001"], /target_instance_id: .* is this instance/],
      [["job", "create", pk, "--target-instance", B.id, "--devices", "meter-0001,meter-0001"], /device_names\[1\]: meter-0001 is listed twice/],
    ];
    for (const [args, re] of cases) {
      const r = await A.daemon.ctl(args, { asAccount: accountId });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, re);
    }
    await assert.rejects(a.createDeviceDistributeJob({ productKey: pk, targetInstanceId: B.id, deviceNames: [] }), /use CreateProductDistributeJob .* \(R2\)/);
    assert.equal((await a.listDeviceDistributeJob({ productKey: pk })).jobs.length, 0, "nothing was created");
  });

  it("R1, R13: 1,000 devices move A→B and the job completes with a result for every device", async () => {
    const started = Date.now();
    const names = Array.from({ length: 1000 }, (_, i) => `meter-${String(i).padStart(4, "0")}`);
    const created = await a.createDeviceDistributeJob({ productKey: pk, targetRegionId: B.region, targetInstanceId: B.id, deviceNames: names });
    const job = await waitJob(a, created.job!.jobId);
    assert.equal(job.status, JobStatus.COMPLETED);
    assert.equal(job.succeeded, 1000);
    assert.equal(job.failed, 0);
    const detail = await A.daemon.ctl(["job", "detail", job.jobId, "--csv"], { asAccount: accountId });
    const lines = detail.stdout.trim().split("\n");
    assert.equal(lines[0], "deviceName,result,generation,errorCode,errorMessage");
    assert.equal(lines.length, 1001);
    assert.ok(lines.slice(1).every((l) => /^meter-\d{4},succeeded,1,,$/.test(l)));
    // Exactly one holder per device, at generation 1.
    const atA = await allDevices(a, pk);
    const atB = await allDevices(b, pk);
    for (const n of names) {
      const da = atA.find((d) => d.deviceName === n)!;
      const db = atB.find((d) => d.deviceName === n)!;
      assert.equal(da.placement, DevicePlacement.AWAY);
      assert.equal(da.instanceId, B.id);
      assert.equal(db.placement, DevicePlacement.HERE);
      assert.equal(db.generation, 1n);
      assert.equal(db.status, DeviceStatus.INACTIVE, "R8: inactive at the target");
      assert.equal(db.homeInstanceId, A.id);
    }
    assert.equal(atB.length, 1000, "spares stayed home");
    console.log(`      (1,000-device job completed in ${Date.now() - started} ms)`);
  });

  it("bootstrap follows the device: the source and the target both answer with the target's endpoint", async () => {
    for (const d of [A, B]) {
      const r = await bootstrap(d.daemon.addresses!.bootstrap, `productKey=${pk}&deviceName=meter-0007&clientId=${pk}.meter-0007&resources=mqtt`);
      assert.equal(r.status, 200);
      assert.equal(r.json.data.resources.mqtt.host, B.mqtt.host, `answered by ${d.id}`);
    }
    const home = await bootstrap(A.daemon.addresses!.bootstrap, `productKey=${pk}&deviceName=spare-1xx`);
    assert.equal(home.json.data.resources.mqtt.host, A.mqtt.host);
  });

  it("R9: at the receiver the product is read-only and no device can be created under it", async () => {
    const refusals: [string[], RegExp][] = [
      [["product", "update", pk, "-d", "edited at B"], /R9: product .* is read-only here: it was received from cn-shanghai\/iot-cn-shanghai-1/],
      [["product", "delete", pk], /R9: product .* is read-only here/],
      [["product", "publish", pk], /R9/],
      [["topic", "create", pk, "other", "-o", "pub"], /R9/],
      [["tsl", "import", pk, "-"], /R9/],
      [["script", "update", pk, "-"], /R9/],
      [["device", "register", pk, "new-at-b"], /R9: no device can be created under product .* here: it was received from cn-shanghai\/iot-cn-shanghai-1/],
      [["device", "batch-register", pk, "--count", "2"], /R9: no device can be created/],
    ];
    for (const [args, re] of refusals) {
      const r = await B.daemon.ctl(args, { asAccount: accountId, stdin: '{"properties":[]}' });
      assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /FAILED_PRECONDITION/);
      assert.match(r.stderr, re);
    }
    const t = (await b.queryProductTopic({ productKey: pk })).topics[0]!;
    const r = await B.daemon.ctl(["topic", "delete", String(t.topicId)], { asAccount: accountId });
    assert.match(r.stderr, /R9/);
  });

  it("R10: at the source, no new device may take the name of a device distributed away", async () => {
    const r = await A.daemon.ctl(["device", "register", pk, "meter-0003"], { asAccount: accountId });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /FAILED_PRECONDITION: R10: device name meter-0003 of product .* was distributed to ap-southeast-1\/iot-ap-southeast-1-1 and stays reserved here/);
    const batch = await a.batchRegisterDevice({ productKey: pk, deviceNames: ["meter-0004", "fresh-0001"] });
    assert.deepEqual(batch.results.map((x) => x.success), [false, true]);
    assert.match(batch.results[0]!.errorMessage, /^R10: /);
  });

  it("R11: at the target a received device cannot be deleted; at the source a device that is away cannot either", async () => {
    const r = await B.daemon.ctl(["device", "delete", pk, "meter-0005"], { asAccount: accountId });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /R11: device .*meter-0005 was received from cn-shanghai\/iot-cn-shanghai-1 and cannot be deleted here: distribute it back to cn-shanghai\/iot-cn-shanghai-1, then delete it there/);
    const s = await A.daemon.ctl(["device", "delete", pk, "meter-0005"], { asAccount: accountId });
    assert.equal(s.code, 1);
    assert.match(s.stderr, /is held by ap-southeast-1\/iot-ap-southeast-1-1 now/);
    assert.equal((await b.queryDeviceDetail({ productKey: pk, deviceName: "meter-0005" })).device!.placement, DevicePlacement.HERE);
  });

  it("R13: a device that does not exist fails alone and the rest proceed", async () => {
    const created = await a.createDeviceDistributeJob({ productKey: pk, targetInstanceId: C.id, deviceNames: ["spare-0xx", "ghost-0001", "meter-0009", "spare-2xx"] });
    const job = await waitJob(a, created.job!.jobId);
    assert.equal(job.status, JobStatus.COMPLETED, "completed does not mean every device succeeded");
    assert.equal(job.succeeded, 2);
    assert.equal(job.failed, 2);
    const detail = (await a.queryDeviceDistributeDetail({ jobId: job.jobId, result: "failed" })).results;
    assert.deepEqual(
      detail.map((d) => [d.deviceName, d.errorCode]),
      [
        ["ghost-0001", "NOT_FOUND"],
        ["meter-0009", "FAILED_PRECONDITION"],
      ],
    );
    assert.match(detail[1]!.errorMessage, /held by ap-southeast-1\/iot-ap-southeast-1-1, not here/);
    await assert.rejects(a.retryDeviceDistributeJob({ jobId: job.jobId }), /R13: job .* is completed; only a failed job can be retried/, "R6: a completed job stays completed");
  });

  it("R1: the device list can be a CSV file from the template; a record of another product refuses the file", async () => {
    const tpl = await A.daemon.ctl(["job", "template"]);
    assert.equal(tpl.stdout, "productKey,deviceName\n");
    const file = join(A.daemon.dataDir, "list.csv");
    writeFileSync(file, `${tpl.stdout}${pk},spare-4xx\n${pk},spare-5xx\n`);
    const ok = await A.daemon.ctlJson(["job", "create", pk, "--target-instance", C.id, "-f", file], { asAccount: accountId });
    assert.equal(ok.job.total, 2);
    assert.equal((await waitJob(a, ok.job.jobId)).succeeded, 2);
    writeFileSync(file, `${tpl.stdout}${pk},spare-6xx\nzzzzzzzzzzz,other-1\n`);
    const bad = await A.daemon.ctl(["job", "create", pk, "--target-instance", C.id, "-f", file], { asAccount: accountId });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /line 3: device other-1 belongs to product zzzzzzzzzzz/);
  });

  it("R8, R6: runtime data stays at the source, tags are cleared; A→B→C→A works and the device finds its runtime data at home", async () => {
    const dn = "spare-3xx";
    await a.updateDeviceShadow({ productKey: pk, deviceName: dn, shadowJson: '{"state":{"desired":{"kwh":42}}}' });
    await a.saveDeviceProp({ productKey: pk, deviceName: dn, props: [{ key: "site", value: "plant-7" }] });

    const toB = await a.createDeviceDistributeJob({ productKey: pk, targetInstanceId: B.id, deviceNames: [dn] });
    assert.equal((await waitJob(a, toB.job!.jobId)).succeeded, 1);
    assert.equal((await b.getDeviceShadow({ productKey: pk, deviceName: dn })).shadowJson, "{}", "runtime data did not move");
    assert.deepEqual((await b.queryDeviceProp({ productKey: pk, deviceName: dn })).props, [], "tags did not move");
    assert.deepEqual((await a.queryDeviceProp({ productKey: pk, deviceName: dn })).props, [], "tags were cleared at the source");
    await b.updateDeviceShadow({ productKey: pk, deviceName: dn, shadowJson: '{"state":{"reported":{"at":"B"}}}' });

    const toC = await b.createDeviceDistributeJob({ productKey: pk, targetInstanceId: C.id, deviceNames: [dn] });
    assert.equal((await waitJob(b, toC.job!.jobId)).succeeded, 1);
    const atC = (await c.queryDeviceDetail({ productKey: pk, deviceName: dn })).device!;
    assert.equal(atC.generation, 2n);
    assert.equal(atC.homeInstanceId, A.id);
    const cProduct = (await c.queryProduct({ productKey: pk })).product!;
    assert.equal(cProduct.ownerInstanceId, A.id, "the copy at C is still A's product");
    const prov = (await c.queryDeviceProvisioning({ productKey: pk, deviceName: dn }));
    assert.equal(prov.receivedFromInstanceId, B.id);
    assert.equal((await bootstrap(C.daemon.addresses!.bootstrap, `productKey=${pk}&deviceName=${dn}`)).json.data.resources.mqtt.host, C.mqtt.host);

    const home = await c.createDeviceDistributeJob({ productKey: pk, targetInstanceId: A.id, deviceNames: [dn] });
    assert.equal((await waitJob(c, home.job!.jobId)).succeeded, 1);
    const back = (await a.queryDeviceDetail({ productKey: pk, deviceName: dn })).device!;
    assert.equal(back.placement, DevicePlacement.HERE);
    assert.equal(back.generation, 3n);
    assert.equal((await a.getDeviceShadow({ productKey: pk, deviceName: dn })).shadowJson, '{"state":{"desired":{"kwh":42}}}', "R8: kept runtime data found again");
    assert.equal((await b.getDeviceShadow({ productKey: pk, deviceName: dn })).shadowJson, '{"state":{"reported":{"at":"B"}}}', "B keeps what was written there");
    for (const [x, id] of [[b, B.id], [c, C.id]] as const) {
      const row = (await x.queryDeviceDetail({ productKey: pk, deviceName: dn })).device!;
      assert.equal(row.placement, DevicePlacement.AWAY, id);
    }
    assert.equal((await bootstrap(A.daemon.addresses!.bootstrap, `productKey=${pk}&deviceName=${dn}`)).json.data.resources.mqtt.host, A.mqtt.host);
    // Back home it can be deleted at its source (R11's way out).
    assert.equal((await A.daemon.ctl(["device", "delete", pk, dn], { asAccount: accountId })).code, 0);
  });

  it("owner updates: the receivers' read-only copies follow the owner's changes, versioned", async () => {
    await a.updateProduct({ productKey: pk, description: "changed at the owner" });
    await a.createProductTopic({ productKey: pk, topicShortName: "telemetry", operation: TopicOperation.ALL });
    const version = (await a.queryProduct({ productKey: pk })).product!.version;
    for (const x of [b, c]) {
      await waitFor("copy to follow", async () => ((await x.queryProduct({ productKey: pk })).product!.version === version ? true : undefined), 20000, 50);
      const copy = (await x.queryProduct({ productKey: pk })).product!;
      assert.equal(copy.description, "changed at the owner");
      assert.deepEqual((await x.queryProductTopic({ productKey: pk })).topics.map((t) => t.topicShortName).sort(), ["telemetry", "update"]);
    }
  });

  it("jobs are listed, filtered and paged; ListDistributedDevice shows where devices went", async () => {
    const all = await a.listDeviceDistributeJob({ pageSize: 2 });
    assert.equal(all.jobs.length, 2);
    assert.notEqual(all.nextPageToken, "");
    const toB = await a.listDeviceDistributeJob({ targetInstanceId: B.id, status: JobStatus.COMPLETED, pageSize: 100 });
    assert.ok(toB.jobs.every((j) => j.targetInstanceId === B.id));
    const away = await a.listDistributedDevice({ productKey: pk, targetInstanceId: B.id, pageSize: 1000 });
    assert.equal(away.devices.length, 1000);
    assert.equal(away.devices[0]!.targetRegionId, B.region);
  });

  it("metrics count jobs, handoffs by direction, and the outbox", async () => {
    const m = await A.daemon.metrics();
    assert.match(m, /iotfed_jobs\{status="completed"\} [1-9]/);
    assert.match(m, /iotfed_handoff_devices_total\{direction="out",result="accepted"\} 10\d\d/);
    assert.match(m, /iotfed_handoff_duration_seconds_count\{direction="out"\} [1-9]/);
    assert.match(m, /iotfed_outbox_depth\{kind="job_devices"\} 0/);
    const mb = await B.daemon.metrics();
    assert.match(mb, /iotfed_handoff_devices_total\{direction="in",result="accepted"\} 10\d\d/);
    assert.match(mb, /iotfed_peer_requests_total\{method="Handoff",code="OK"\} [1-9]/);
  });

  it("no DeviceSecret reaches any daemon's logs", async () => {
    const secret = (await a.queryDeviceDetail({ productKey: pk, deviceName: "meter-0001", includeSecret: false })).device!;
    assert.equal(secret.deviceSecret, "");
    const s = (await b.queryDeviceDetail({ productKey: pk, deviceName: "meter-0001", includeSecret: true })).device!.deviceSecret;
    assert.match(s, /^[A-Za-z0-9]{32}$/);
    for (const m of fed.members) assert.equal((m.daemon.logs.join("\n") + m.daemon.stderr).includes(s), false, m.id);
  });
});
