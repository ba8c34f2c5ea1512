import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import * as grpc from "@grpc/grpc-js";
import { JobStatus } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { endpointHost, makeCerts, metricSum, startFederation, waitFor, type AdminClient, type FederationMember, type TestDaemon } from "../support/daemon.js";
import { NatsServer } from "../support/nats.js";
import { listAll } from "../support/jobs.js";
import { peerClientAs, signingKeyOf } from "../support/peer.js";
import { rejects } from "../support/grpc.js";
import { encodeRecord, keyOf, sealRecord } from "../../internal/replication/index.js";
import type { DeviceRoute, RouteChange } from "../../internal/domain/index.js";
import { releaseProofs, signingKeyFrom, signReleases, type SigningKey } from "../../internal/trust/index.js";
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";

/*
 * Attacks on the replication plane (docs/operating/security.md "Threat
 * model"), black-box, against three daemons and a real nats-server: a NATS
 * client that is no member, a member whose key was stolen, replays, and a
 * revoked member. Each case writes straight into the routes bucket, then
 * checks that nothing changed at any daemon — bootstrap answers, holders,
 * product copies, accounts, the pool — and that the refusal was counted.
 */

type Fed = Awaited<ReturnType<typeof startFederation>>;
const DEVICES = ["atk-1", "atk-2", "atk-3"];

describe("attacks on the replication plane: no NATS writer and no member changes a fact it does not own", function () {
  this.timeout(180000);
  let nats: NatsServer;
  let fed: Fed;
  let A: FederationMember, B: FederationMember, C: FederationMember;
  let a: AdminClient;
  let accountId: string;
  let pk: string;
  let nc: NatsConnection;
  let kv: KV;
  let revocations: string;
  let strangerDir: string;
  let stranger: SigningKey;

  /** What every daemon says of the federation: it must not move under attack. */
  async function snapshot(): Promise<unknown> {
    const out: Record<string, unknown> = {};
    for (const m of fed.members) {
      const admin = m.daemon.admin(accountId);
      const operator = m.daemon.admin();
      try {
        const product = await admin.queryProduct({ productKey: pk }).then(
          (r) => ({ owner: r.product?.ownerInstanceId, version: r.product?.version, name: r.product?.productName }),
          (e: grpc.ServiceError) => `error ${e.code}`,
        );
        out[m.id] = {
          bootstrap: await Promise.all([...DEVICES, "never-registered"].map((dn) => endpointHost(m.daemon, pk, dn))),
          devices: [...(await listAll(admin, pk).catch(() => new Map())).entries()].map(([n, d]) => `${n}:${d.placement}:${d.holder}:${d.generation}`).sort(),
          product,
          accounts: (await operator.queryAccountList({ pageSize: 100 })).accounts.map((x) => `${x.accountId}:${x.accountName}`).sort(),
          pool: (await operator.listPoolProducts({ pageSize: 100 })).products.map((p) => `${p.productKey}:${p.productName}:${p.version}`).sort(),
        };
      } finally {
        admin.close();
        operator.close();
      }
    }
    return out;
  }

  /** Writes raw values into the bucket, waits until every daemon has read past them, and returns the refusals counted meanwhile. */
  async function attack(writes: [string, Uint8Array][], ...reasons: string[]): Promise<void> {
    const refusals = async (d: TestDaemon): Promise<number> => {
      let n = 0;
      for (const reason of reasons) n += await metricSum(d, "iotfed_replication_refused_total", { reason });
      return n;
    };
    const before = await snapshot();
    const counted = await Promise.all(fed.members.map((m) => refusals(m.daemon)));
    let last = 0;
    for (const [key, value] of writes) last = await kv.put(key, value);
    for (const m of fed.members) {
      await waitFor(`${m.id} to read the attack`, async () => ((await metricSum(m.daemon, "iotfed_replication_last_revision")) >= last ? true : undefined), 15000, 50);
    }
    const after = await snapshot();
    assert.deepEqual(after, before, "nothing changed at any daemon");
    for (const [i, m] of fed.members.entries()) {
      const now = await refusals(m.daemon);
      assert.ok(now >= counted[i]! + writes.length, `${m.id} counted ${now - counted[i]!} of ${writes.length} refusals as ${reasons.join(" or ")}`);
    }
  }

  const deviceRoute = (over: Partial<DeviceRoute>): RouteChange => ({
    kind: "device",
    route: { productKey: pk, deviceName: "atk-1", holder: C.id, generation: 1_000_000, nearest: false, committedBy: C.id, committedAt: Date.now(), ...over },
  });
  /** One forged record of every kind, each naming `writer` and outranking the real one. */
  const forgeries = (writer: string): RouteChange[] => [
    deviceRoute({ holder: writer, committedBy: writer }),
    { kind: "product", route: { productKey: pk, home: writer, version: 1_000_000, deleted: true, candidates: [], accountId, productName: "hijacked", nodeType: "device", status: "published", regionId: "us-west-1", committedBy: writer, committedAt: Date.now() } },
    { kind: "instance", route: { instanceId: A.id, regionId: A.region, mqttHost: "evil.example.com", mqttPort: 1883, version: Date.now() + 1e9, certificates: [], peerAddress: "", kind: "public", committedAt: Date.now() } },
    { kind: "account", route: { accountId, accountName: "hijacked", home: writer, version: 1_000_000, createdAt: 1, committedAt: Date.now() } },
    {
      kind: "pool",
      route: { productKey: pk, accountId, accountName: "acme", productName: "hijacked", nodeType: "device", dataFormat: "alink-json", description: "", home: writer, version: 1_000_000, topics: [], thingModel: "{}", pooledAt: 1, committedBy: writer, committedAt: Date.now() },
    },
  ];

  before(async () => {
    nats = await NatsServer.start();
    strangerDir = mkdtempSync(join(tmpdir(), "iotfed-stranger-"));
    revocations = join(strangerDir, "revoked.txt");
    writeFileSync(revocations, "# no member is revoked yet\n");
    const other = makeCerts(strangerDir, ["iot-cn-shanghai-1"]); // A's name, from a CA that is not the federation's
    stranger = signingKeyFrom("iot-cn-shanghai-1", readFileSync(other.cert("iot-cn-shanghai-1")), readFileSync(other.key("iot-cn-shanghai-1")));
    fed = await startFederation(3, { config: { replication: { servers: [nats.url], staleAfterMs: 2000 } }, revocationFile: revocations });
    [A, B, C] = fed.members as [FederationMember, FederationMember, FederationMember];
    accountId = (await A.daemon.ctlJson(["account", "create", "acme"])).account.accountId;
    a = A.daemon.admin(accountId);
    pk = (await a.createProduct({ productName: "Meter" })).product!.productKey;
    assert.equal((await a.batchRegisterDevice({ productKey: pk, deviceNames: DEVICES })).successCount, DEVICES.length);
    await a.releaseProduct({ productKey: pk });
    await a.addProductToPool({ productKey: pk, confirmIrreversible: true });
    const job = (await a.createDeviceDistributeJob({ productKey: pk, targetRegionId: B.region, targetInstanceId: B.id, deviceNames: ["atk-1"] })).job!;
    await waitFor("atk-1 at B everywhere", async () => {
      const j = (await a.queryDeviceDistributeJob({ jobId: job.jobId })).job!;
      if (j.status !== JobStatus.COMPLETED) return undefined;
      for (const m of fed.members) if ((await endpointHost(m.daemon, pk, "atk-1")) !== B.mqtt.host) return undefined;
      for (const m of fed.members) if ((await endpointHost(m.daemon, pk, "atk-2")) !== A.mqtt.host) return undefined;
      return true;
    }, 20000, 100).catch(async (e) => {
      console.log((await a.queryDeviceDistributeJob({ jobId: job.jobId })).job, await Promise.all(fed.members.map(async (m) => [await endpointHost(m.daemon, pk, "atk-1"), await endpointHost(m.daemon, pk, "atk-2")])));
      for (const m of fed.members) console.log(m.id, m.daemon.logs.filter((l) => /warn|error/.test(l)).slice(-6).join("\n"));
      throw e;
    });
    nc = await connect({ servers: nats.url });
    kv = await new Kvm(nc).open("iotfed-routes");
  });
  after(async () => {
    a?.close();
    await nc?.close();
    await fed?.dispose();
    await nats?.dispose();
    rmSync(strangerDir, { recursive: true, force: true });
  });

  it("a NATS client with no federation key writes every kind unsigned, at high generations and versions: refused as unsigned", async () => {
    await attack(forgeries("iot-nobody-9").map((c) => [keyOf(c), encodeRecord(c, "iot-nobody-9")]), "unsigned");
  });

  it("the same client signs with a certificate of another CA, in a member's name: refused (a key no member record lists; a certificate the CA did not issue)", async () => {
    await attack(forgeries(A.id).map((c) => [keyOf(c), sealRecord(c, A.id, stranger)]), "unknown_signer", "bad_certificate");
  });

  it("a member's stolen key (C) writes records it does not own, of every kind: refused as not its owner's", async () => {
    const c = signingKeyOf(fed.certDir, C.id);
    const notC: RouteChange[] = [
      deviceRoute({ holder: B.id, committedBy: C.id }), // a route naming another holder
      ...forgeries(A.id).slice(1), // A's product, A's instance record, A's account, A's pool entry
    ];
    await attack(notC.map((r) => [keyOf(r), sealRecord(r, C.id, c)]), "not_owner");
  });

  it("C claims a device for itself: without a release, with a release it signed itself, or with A's genuine release of another device", async () => {
    const c = signingKeyOf(fed.certDir, C.id);
    const own = (route: RouteChange): [string, Uint8Array] => [keyOf(route), sealRecord(route, C.id, c)];
    const toC = { productKey: pk, to: C.id, account: accountId, nearest: false };
    const selfMade = releaseProofs(B.id, toC, [{ deviceName: "atk-1", generation: 1_000_000 }], signReleases(c, toC, [{ deviceName: "atk-1", generation: 1_000_000 }]), c).proofs[0]!;
    const aKey = signingKeyOf(fed.certDir, A.id);
    const otherDevice = releaseProofs(A.id, toC, [{ deviceName: "atk-3", generation: 1 }], signReleases(aKey, toC, [{ deviceName: "atk-3", generation: 1 }]), c).proofs[0]!;
    await attack([own(deviceRoute({ deviceName: "atk-2" }))], "no_release");
    await attack([own(deviceRoute({ release: selfMade })), own(deviceRoute({ deviceName: "atk-2", release: { ...otherDevice } }))], "bad_release");
  });

  it("an old genuine record replayed is not applied, and its owner puts the current one back", async () => {
    const key = keyOf(deviceRoute({}));
    const current = (await kv.get(key))!;
    // B's genuine record of atk-1, as it would have been one generation earlier, cannot be made; the
    // genuine record itself, replayed over a newer one, is what an attacker has. Make atk-1 move on.
    const bAdmin = B.daemon.admin(accountId);
    try {
      const job = (await bAdmin.createDeviceDistributeJob({ productKey: pk, targetRegionId: C.region, targetInstanceId: C.id, deviceNames: ["atk-1"] })).job!;
      await waitFor("atk-1 at C everywhere", async () => {
        if ((await bAdmin.queryDeviceDistributeJob({ jobId: job.jobId })).job!.status !== JobStatus.COMPLETED) return undefined;
        for (const m of fed.members) if ((await endpointHost(m.daemon, pk, "atk-1")) !== C.mqtt.host) return undefined;
        return true;
      }, 20000, 100);
    } finally {
      bAdmin.close();
    }
    const before = await snapshot();
    const rev = await kv.put(key, current.value); // B's genuine generation-1 record, over C's generation 2
    for (const m of fed.members) await waitFor(`${m.id} to read the replay`, async () => ((await metricSum(m.daemon, "iotfed_replication_last_revision")) >= rev ? true : undefined), 15000, 50);
    assert.deepEqual(await snapshot(), before, "nothing changed at any daemon");
    await waitFor("C to publish its record again", async () => {
      const e = await kv.get(key);
      return e !== null && e.revision > rev && Buffer.from(e.value).toString("latin1").includes(C.id) ? true : undefined;
    }, 15000, 100);
  });

  it("a revoked member: its records and its peer calls are refused everywhere, without a restart", async () => {
    const c = signingKeyOf(fed.certDir, C.id);
    const asC = peerClientAs(fed.certDir, C, A);
    const asCtoB = peerClientAs(fed.certDir, C, B);
    try {
      await asC.probe(5000);
      writeFileSync(revocations, `# C's key was stolen\ninstance ${C.id}\n`);
      for (const [who, client] of [[A.id, asC], [B.id, asCtoB]] as const) {
        await waitFor(`${who} to refuse C's calls`, async () => {
          try {
            await client.confirmHandoff({ jobId: "j", productKey: pk, devices: [] });
            return undefined;
          } catch (e) {
            return (e as grpc.ServiceError).code === grpc.status.PERMISSION_DENIED && /revoked/.test((e as Error).message) ? true : undefined;
          }
        }, 10000, 200);
      }
      await rejects(asC.confirmHandoff({ jobId: "j", productKey: pk, devices: [] }), grpc.status.PERMISSION_DENIED, /not a member of the federation: .* is revoked/);
      // C's own instance record, with a new endpoint: the record of a revoked member.
      const inst: RouteChange = { kind: "instance", route: { instanceId: C.id, regionId: C.region, mqttHost: "moved.example.com", mqttPort: 1883, version: Date.now() + 2e9, certificates: [c.certificate], peerAddress: C.peerAddress, kind: "public", committedAt: Date.now() } };
      const before = await snapshot();
      const rev = await kv.put(keyOf(inst), sealRecord(inst, C.id, c));
      for (const m of [A, B]) {
        await waitFor(`${m.id} to read C's record`, async () => ((await metricSum(m.daemon, "iotfed_replication_last_revision")) >= rev ? true : undefined), 15000, 50);
        assert.ok((await metricSum(m.daemon, "iotfed_replication_refused_total", { kind: "instance", reason: "revoked" })) >= 1, `${m.id} refused it as revoked`);
        assert.notEqual(await endpointHost(m.daemon, pk, "atk-1"), "moved.example.com");
      }
      const after = (await snapshot()) as Record<string, unknown>;
      const was = before as Record<string, unknown>;
      assert.deepEqual(after[A.id], was[A.id]);
      assert.deepEqual(after[B.id], was[B.id]);
    } finally {
      asC.close();
      asCtoB.close();
      writeFileSync(revocations, "");
    }
  });
});
