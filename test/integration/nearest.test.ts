import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { DevicePlacement, JobStatus, ScriptType, TopicOperation } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { startFederation, waitFor, type AdminClient, type FederationMember } from "../support/daemon.js";
import { NatsServer } from "../support/nats.js";
import { waitJob } from "../support/jobs.js";
import { rejects } from "../support/grpc.js";
import { AMERICA, bootstrapFrom, EUROPE, GEO_OVERRIDES, LONDON_PUBLIC, PROXY, SHANGHAI } from "../support/geo.js";

type Fed = Awaited<ReturnType<typeof startFederation>>;

const metricText = async (m: FederationMember): Promise<string> => m.daemon.metrics();
const metricValue = (text: string, sample: string): number => {
  const line = text.split("\n").find((l) => l.startsWith(`${sample} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
};


/**
 * The nearest strategy (R3) with real processes: three daemons in three
 * regions far apart and one nats-server. Devices bootstrap from loopback
 * source addresses that CIDR overrides place in Europe, America and
 * Shanghai, and through a trusted proxy with X-Forwarded-For. Shanghai's
 * edge runs in two worker processes (edge.workers).
 */
describe("nearest-access distribution (R3): devices placed where they bootstrap", function () {
  this.timeout(240000);
  let nats: NatsServer;
  let fed: Fed;
  let SH: FederationMember, EU: FederationMember, US: FederationMember;
  let a: AdminClient;
  let accountId: string;
  let pk: string;
  const secrets = new Map<string, string>();
  const names = ["meter-eu", "meter-hdr", "meter-burst", "meter-down", "meter-stay"];
  const holderOf = async (m: FederationMember, dn: string): Promise<{ placement: DevicePlacement; secret: string } | undefined> => {
    const c = m.daemon.admin(accountId);
    try {
      const d = (await c.queryDeviceDetail({ productKey: pk, deviceName: dn, includeSecret: true })).device!;
      return { placement: d.placement, secret: d.deviceSecret };
    } catch {
      return undefined;
    } finally {
      c.close();
    }
  };

  before(async () => {
    nats = await NatsServer.start();
    fed = await startFederation(3, {
      regions: ["cn-shanghai", "eu-central-1", "us-west-1"],
      config: {
        replication: { servers: [nats.url], staleAfterMs: 1000 },
        geo: { overrides: GEO_OVERRIDES },
        // No move budget here: these tests move devices on purpose (test/attacks/nearest.test.ts has it).
        placement: { trustedProxies: [`${PROXY}/32`], waitMs: 5000, unreachableBackoffMs: 300, minMoveIntervalMs: 0 },
      },
      peer: { retryWindowMs: 2000 },
      // Shanghai answers bootstrap from two edge workers, which ask the daemon to place nearest devices (over IPC).
      configFor: (i) => (i === 0 ? { edge: { workers: 2 } } : {}),
    });
    [SH, EU, US] = fed.members as [FederationMember, FederationMember, FederationMember];
    accountId = (await SH.daemon.ctlJson(["account", "create", "acme"])).account.accountId;
    a = SH.daemon.admin(accountId);
    pk = (await a.createProduct({ productName: "Meter" })).product!.productKey;
    await a.createProductTopic({ productKey: pk, topicShortName: "update", operation: TopicOperation.PUB });
    await a.importThingModelTsl({ productKey: pk, tslJson: '{"properties":[{"identifier":"kwh","name":"kWh","accessMode":"r","dataType":{"type":"double","specs":{}}}]}' });
    await a.createThingScript({ productKey: pk, scriptType: ScriptType.JAVASCRIPT, scriptContent: "function protocolToRawData(j){return [];}" });
    const r = await a.batchRegisterDevice({ productKey: pk, deviceNames: names });
    assert.equal(r.successCount, names.length);
    for (const dn of names) secrets.set(dn, (await a.queryDeviceDetail({ productKey: pk, deviceName: dn, includeSecret: true })).device!.deviceSecret);
  });
  after(async () => {
    a?.close();
    await fed?.dispose();
    await nats?.dispose();
  });

  it("R3: refuses product-only distribution by the nearest strategy", async () => {
    await rejects(a.createProductDistributeJob({ productKey: pk, strategy: "nearest", targetInstanceId: EU.id }), grpc.status.FAILED_PRECONDITION, /^R3: .*product-only/);
    await rejects(
      a.createDeviceDistributeJob({ productKey: pk, strategy: "nearest", candidates: [{ regionId: EU.region, instanceId: EU.id }], deviceNames: [] }),
      grpc.status.FAILED_PRECONDITION,
      /^R3: /,
    );
  });

  it("R4: refuses the nearest strategy to another account", async () => {
    await rejects(
      a.createDeviceDistributeJob({ productKey: pk, strategy: "nearest", candidates: [{ regionId: EU.region, instanceId: EU.id }], deviceNames: ["meter-eu"], targetAccountId: "999999" }),
      grpc.status.FAILED_PRECONDITION,
      /^R4: /,
    );
    // by the specified strategy, a receiving account must be in the directory
    await rejects(
      a.createDeviceDistributeJob({ productKey: pk, targetRegionId: EU.region, targetInstanceId: EU.id, deviceNames: ["meter-eu"], targetAccountId: "999999", authCode: "123456" }),
      grpc.status.NOT_FOUND,
      /account 999999 is not in the account directory/,
    );
  });

  it("R3: refuses a region listed twice and an unknown instance, naming the candidate", async () => {
    const twice = a.createDeviceDistributeJob({
      productKey: pk,
      strategy: "nearest",
      candidates: [
        { regionId: EU.region, instanceId: EU.id },
        { regionId: EU.region, instanceId: SH.id },
      ],
      deviceNames: ["meter-eu"],
    });
    // SH is in cn-shanghai: the region check names it first
    await rejects(twice, grpc.status.INVALID_ARGUMENT, /candidates\[1\]\.region_id: instance iot-cn-shanghai-1 is in region cn-shanghai/);
    const dup = a.createDeviceDistributeJob({
      productKey: pk,
      strategy: "nearest",
      candidates: [
        { regionId: EU.region, instanceId: EU.id },
        { regionId: US.region, instanceId: US.id },
        { regionId: US.region, instanceId: US.id },
      ],
      deviceNames: ["meter-eu"],
    });
    await rejects(dup, grpc.status.INVALID_ARGUMENT, /candidates\[2\]\.instance_id: iot-us-west-1-1 is listed twice/);
    await rejects(
      a.createDeviceDistributeJob({ productKey: pk, strategy: "nearest", candidates: [{ regionId: "us-east-1", instanceId: "iot-nowhere-1" }], deviceNames: ["meter-eu"] }),
      grpc.status.INVALID_ARGUMENT,
      /candidates\[0\]\.instance_id: iot-nowhere-1 is neither this instance nor a configured peer/,
    );
    // nothing was created by the refused requests
    assert.equal((await a.listDeviceDistributeJob({ productKey: pk })).jobs.length, 0);
  });

  it("R3: a nearest job hands the product (topics, thing model, script) to every candidate at once; the devices stay until they bootstrap", async () => {
    const r = await a.createDeviceDistributeJob({
      productKey: pk,
      strategy: "nearest",
      candidates: [
        { regionId: SH.region, instanceId: SH.id },
        { regionId: EU.region, instanceId: EU.id },
        { regionId: US.region, instanceId: US.id },
      ],
      deviceNames: [...names, "no-such-device"],
    });
    assert.equal(r.job!.strategy, "nearest");
    const job = await waitJob(() => a, r.job!.jobId);
    assert.equal(job.status, JobStatus.COMPLETED, job.message);
    assert.equal(job.succeeded, names.length);
    assert.equal(job.failed, 1, "a device that does not exist fails alone (R13)");
    assert.deepEqual(
      job.candidates.map((c) => `${c.regionId}/${c.instanceId}`),
      [`${SH.region}/${SH.id}`, `${EU.region}/${EU.id}`, `${US.region}/${US.id}`],
    );
    for (const m of [EU, US]) {
      const c = m.daemon.admin(accountId);
      try {
        const p = (await c.queryProduct({ productKey: pk })).product!;
        assert.equal(p.ownerInstanceId, SH.id);
        assert.deepEqual(p.nearestCandidates, [SH.id, EU.id, US.id], "the copy carries the candidate set");
        assert.equal((await c.queryProductTopic({ productKey: pk })).topics.length, 1);
        assert.match((await c.getThingModelTsl({ productKey: pk })).tslJson, /kwh/);
        assert.match((await c.getThingScript({ productKey: pk })).scriptContent, /protocolToRawData/);
      } finally {
        c.close();
      }
    }
    // Every daemon learns the candidate set; a device whose location is
    // unknown (127.0.0.1 has no override) is answered by its holder.
    for (const m of [SH, EU, US]) {
      await waitFor(`${m.id} answers the holder`, async () => ((await bootstrapFrom(m.daemon.addresses!.bootstrap, pk, "meter-stay", "127.0.0.1")) === SH.mqtt.host ? true : undefined), 10000, 50);
    }
    // From Shanghai the nearest candidate is the holder: no move.
    assert.equal(await bootstrapFrom(US.daemon.addresses!.bootstrap, pk, "meter-stay", SHANGHAI), SH.mqtt.host);
    assert.equal((await holderOf(SH, "meter-stay"))!.placement, DevicePlacement.HERE);
  });

  it("a device bootstrapping from Europe lands in eu-central-1 (its certificate is there), then moves to us-west-1 when it bootstraps from America", async () => {
    // asked at the US daemon, which holds neither the device nor the nearest candidate
    const t0 = performance.now();
    assert.equal(await bootstrapFrom(US.daemon.addresses!.bootstrap, pk, "meter-eu", EUROPE), EU.mqtt.host);
    const ms = Math.round(performance.now() - t0);
    const atEu = await holderOf(EU, "meter-eu");
    assert.equal(atEu?.placement, DevicePlacement.HERE, "held in eu-central-1");
    assert.equal(atEu.secret, secrets.get("meter-eu"), "the device's certificate moved with it (R8)");
    assert.equal((await holderOf(SH, "meter-eu"))!.placement, DevicePlacement.AWAY);
    // again from Europe, at any daemon: no further move
    for (const m of [SH, EU, US]) {
      await waitFor(`${m.id} answers eu`, async () => ((await bootstrapFrom(m.daemon.addresses!.bootstrap, pk, "meter-eu", EUROPE)) === EU.mqtt.host ? true : undefined), 10000, 50);
    }
    const c = EU.daemon.admin(accountId);
    const g1 = (await c.queryDeviceProvisioning({ productKey: pk, deviceName: "meter-eu" })).generation;
    c.close();

    // now from America, asked at the Shanghai daemon: the holder (eu) moves it on
    assert.equal(await bootstrapFrom(SH.daemon.addresses!.bootstrap, pk, "meter-eu", AMERICA), US.mqtt.host);
    const atUs = await holderOf(US, "meter-eu");
    assert.equal(atUs?.placement, DevicePlacement.HERE, "held in us-west-1");
    assert.equal(atUs.secret, secrets.get("meter-eu"));
    assert.equal((await holderOf(EU, "meter-eu"))!.placement, DevicePlacement.AWAY);
    const u = US.daemon.admin(accountId);
    assert.equal((await u.queryDeviceProvisioning({ productKey: pk, deviceName: "meter-eu" })).generation, g1 + 1n);
    u.close();
    console.log(`      (first placement answered in ${ms} ms)`);
    const text = await metricText(US);
    assert.ok(metricValue(text, 'iotfed_placements_total{from_region="cn-shanghai",to_region="eu-central-1",result="moved"}') >= 1, "US counted the move it asked for");
    assert.ok(metricValue(text, 'iotfed_geo_lookups_total{source="override"}') >= 1);
  });

  it("a forwarding header from an untrusted peer changes nothing; from the trusted proxy it places the device", async () => {
    // the peer (Shanghai) sends a London X-Forwarded-For and Forwarded: ignored
    for (let i = 0; i < 3; i++) {
      assert.equal(await bootstrapFrom(EU.daemon.addresses!.bootstrap, pk, "meter-hdr", SHANGHAI, { "x-forwarded-for": LONDON_PUBLIC, forwarded: `for=${LONDON_PUBLIC}` }), SH.mqtt.host);
    }
    assert.equal((await holderOf(SH, "meter-hdr"))!.placement, DevicePlacement.HERE);
    // through the trusted proxy, the client's public address is located by the database (London)
    assert.equal(await bootstrapFrom(SH.daemon.addresses!.bootstrap, pk, "meter-hdr", PROXY, { "x-forwarded-for": `203.0.113.77, ${LONDON_PUBLIC}` }), EU.mqtt.host);
    assert.equal((await holderOf(EU, "meter-hdr"))!.placement, DevicePlacement.HERE);
    assert.ok(metricValue(await metricText(SH), 'iotfed_geo_lookups_total{source="database"}') >= 1);
  });

  it("a burst of 100 concurrent bootstraps of one device, at all three daemons, makes one move", async () => {
    const before = (await a.listDeviceDistributeJob({ productKey: pk, pageSize: 1000 })).jobs.filter((j) => j.strategy === "placement").length;
    const daemons = [SH, EU, US];
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => bootstrapFrom(daemons[i % 3]!.daemon.addresses!.bootstrap, pk, "meter-burst", AMERICA)));
    const counts = new Map<string, number>();
    for (const h of answers) counts.set(h, (counts.get(h) ?? 0) + 1);
    assert.deepEqual([...counts.keys()], [US.mqtt.host], `answers: ${JSON.stringify([...counts])}`);
    const jobs = (await a.listDeviceDistributeJob({ productKey: pk, pageSize: 1000 })).jobs.filter((j) => j.strategy === "placement");
    assert.equal(jobs.length - before, 1, "one placement job at the holder");
    const u = US.daemon.admin(accountId);
    assert.equal((await u.queryDeviceProvisioning({ productKey: pk, deviceName: "meter-burst" })).generation, 2n, "generation 0 → 1 (nearest job) → 2 (one move)");
    u.close();
    let moved = 0;
    for (const m of daemons) moved += metricValue(await metricText(m), 'iotfed_placements_total{from_region="cn-shanghai",to_region="us-west-1",result="moved"}');
    assert.ok(moved >= 1 && moved <= 3, `each daemon asked at most once: ${moved}`);
  });

  it("an unreachable target leaves the device where it is, answered by its holder; the move happens once the target is back", async () => {
    await US.daemon.kill();
    const t0 = performance.now();
    assert.equal(await bootstrapFrom(EU.daemon.addresses!.bootstrap, pk, "meter-down", AMERICA), SH.mqtt.host);
    const ms = performance.now() - t0;
    assert.ok(ms < 5000, `answered in ${Math.round(ms)} ms`);
    const here = await holderOf(SH, "meter-down");
    assert.equal(here!.placement, DevicePlacement.HERE, "still held, usable, not leaving");
    const text = await metricText(EU);
    assert.ok(metricValue(text, 'iotfed_placements_total{from_region="cn-shanghai",to_region="us-west-1",result="unreachable"}') >= 1, text.split("\n").filter((l) => l.startsWith("iotfed_placements")).join("\n"));

    await US.daemon.start();
    await waitFor(
      "the move after the target returns",
      async () => ((await bootstrapFrom(EU.daemon.addresses!.bootstrap, pk, "meter-down", AMERICA)) === US.mqtt.host ? true : undefined),
      30000,
      200,
    );
    assert.equal((await holderOf(US, "meter-down"))!.secret, secrets.get("meter-down"));
    assert.equal((await holderOf(SH, "meter-down"))!.placement, DevicePlacement.AWAY);
  });
});
