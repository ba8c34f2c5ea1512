import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { endpointHost, metricSum, startFederation, waitFor, type FederationMember, type TestDaemon } from "../support/daemon.js";
import { NatsServer } from "../support/nats.js";
import { decodeRecord, encodeRecord, keyOf, openRecord } from "../../internal/replication/index.js";
import type { RouteChange } from "../../internal/domain/index.js";
import * as grpc from "@grpc/grpc-js";
import { peerClientAs, wireBundle } from "../support/peer.js";
import { rejects } from "../support/grpc.js";

/*
 * The rolling upgrade to signed records (docs/operating/security.md
 * "Rolling upgrade"): daemons of the new release beside a daemon of the
 * earlier one, whose records are unsigned; then the switch to required.
 * The earlier daemon is played by a NATS client writing the records that
 * release wrote (unsigned RouteRecords).
 */


describe("rolling upgrade to signed records: optional while a daemon of the earlier release runs, then required", function () {
  this.timeout(120000);
  let nats: NatsServer;
  let fed: Awaited<ReturnType<typeof startFederation>>;
  let A: FederationMember, B: FederationMember;
  let nc: NatsConnection;
  let kv: KV;
  const OLD = "iot-old-1";
  const oldPk = "oLdPrOdUcT1";
  const now = Date.now();
  const oldRecords: RouteChange[] = [
    { kind: "instance", route: { instanceId: OLD, regionId: "us-west-1", mqttHost: "mqtt.old.example.com", mqttPort: 1883, version: now, certificates: [], peerAddress: "", kind: "", committedAt: now } },
    { kind: "product", route: { productKey: oldPk, home: OLD, version: 1, deleted: false, candidates: [], accountId: "1234567890123456", productName: "legacy", nodeType: "device", status: "published", regionId: "us-west-1", committedBy: OLD, committedAt: now } },
  ];
  /** Waits until every daemon has read the bucket up to `rev`. */
  const readBy = async (rev: number): Promise<void> => {
    for (const m of fed.members) await waitFor(`${m.id} to read revision ${rev}`, async () => ((await metricSum(m.daemon, "iotfed_replication_last_revision")) >= rev ? true : undefined), 15000, 50);
  };
  const setSignatures = (d: TestDaemon, mode: "optional" | "required"): void => {
    writeFileSync(d.configPath, readFileSync(d.configPath, "utf8").replace(/signatures: \w+/, `signatures: ${mode}`));
  };

  before(async () => {
    nats = await NatsServer.start();
    fed = await startFederation(2, { config: { replication: { servers: [nats.url], signatures: "optional" } } });
    [A, B] = fed.members as [FederationMember, FederationMember];
    nc = await connect({ servers: nats.url });
    kv = await new Kvm(nc).open("iotfed-routes");
  });
  after(async () => {
    await nc?.close();
    await fed?.dispose();
    await nats?.dispose();
  });

  it("optional: the earlier daemon's unsigned records are applied and counted; an unsigned record in an upgraded daemon's name is not", async () => {
    let rev = 0;
    for (const c of oldRecords) rev = await kv.put(keyOf(c), encodeRecord(c, OLD));
    await readBy(rev);
    for (const m of fed.members) {
      assert.equal(await endpointHost(m.daemon, oldPk, "any-device"), "mqtt.old.example.com", `${m.id} answers for the earlier daemon's product`);
      assert.ok((await metricSum(m.daemon, "iotfed_replication_unverified_total", { reason: "unsigned" })) >= 2);
    }
    // A signs: an unsigned instance record in its name is forged.
    const forged: RouteChange = { kind: "instance", route: { instanceId: A.id, regionId: A.region, mqttHost: "evil.example.com", mqttPort: 1883, version: Date.now() + 1e9, certificates: [], peerAddress: "", kind: "", committedAt: 1 } };
    await readBy(await kv.put(keyOf(forged), encodeRecord(forged, A.id)));
    assert.ok((await metricSum(B.daemon, "iotfed_replication_refused_total", { kind: "instance", reason: "unsigned" })) >= 1);
    await waitFor("A to put its own instance record back", async () => (openRecord(keyOf(forged), (await kv.get(keyOf(forged)))!.value).signature?.signer === A.id ? true : undefined), 10000, 100);
  });

  /** A product of A's with devices, known at B, that a peer of the earlier release hands to B by hand. */
  let legacy: { accountId: string; pk: string; version: bigint };
  const unsignedBundle = () => wireBundle({ productKey: legacy.pk, accountId: legacy.accountId, accountName: "legacy-peer", productName: "relay", ownerInstanceId: A.id, version: legacy.version });
  const device = (dn: string) => ({ deviceName: dn, deviceSecret: "s".repeat(32), iotId: `iot-${dn}`, generation: 1n, homeInstanceId: A.id, createTimeMs: 1n });

  it("optional: a peer of the earlier release — a Handoff with an unsigned bundle, a ConfirmHandoff without a release — is taken and counted", async () => {
    const accountId = (await A.daemon.ctlJson(["account", "create", "legacy-peer"])).account.accountId as string;
    const a = A.daemon.admin(accountId);
    try {
      const p = (await a.createProduct({ productName: "relay" })).product!;
      await a.batchRegisterDevice({ productKey: p.productKey, deviceNames: ["relay-1", "relay-2"] });
      legacy = { accountId, pk: p.productKey, version: p.version };
    } finally {
      a.close();
    }
    await waitFor("B to know the product", async () => ((await endpointHost(B.daemon, legacy.pk, "relay-1")) === A.mqtt.host ? true : undefined), 10000, 50);
    const peer = peerClientAs(fed.certDir, A, B);
    try {
      const r = await peer.handoff({ jobId: "job_legacyPeer001", product: unsignedBundle(), devices: [device("relay-1")], targetAccountId: legacy.accountId, strategy: "specified" });
      assert.equal(r.outcomes[0]!.accepted, true, r.outcomes[0]!.errorMessage);
      const c = await peer.confirmHandoff({ jobId: "job_legacyPeer001", productKey: legacy.pk, devices: [{ deviceName: "relay-1", generation: 1n }] });
      assert.equal(c.confirmed, 1);
    } finally {
      peer.close();
    }
    assert.equal(await metricSum(B.daemon, "iotfed_replication_unverified_total", { kind: "bundle", reason: "unsigned" }), 1);
    assert.equal(await metricSum(B.daemon, "iotfed_replication_unverified_total", { kind: "confirm", reason: "no_release" }), 1);
  });

  it("an upgraded daemon publishes again, signed, every record it published before the upgrade", async () => {
    const accountId = (await A.daemon.ctlJson(["account", "create", "upgrader"])).account.accountId as string;
    const a = A.daemon.admin(accountId);
    const pk = (await a.createProduct({ productName: "meter" })).product!.productKey;
    a.close();
    const key = `prod.${pk}`;
    await waitFor("A's product in the bucket", async () => ((await kv.get(key))?.operation === "PUT" ? true : undefined), 10000, 50);
    // As the earlier release left it: the record unsigned, the store never having signed.
    await A.daemon.stop();
    const signed = (await kv.get(key))!.value;
    await kv.put(key, encodeRecord(decodeRecord(key, signed), A.id));
    const db = new Database(join(A.daemon.dataDir, "iotfed.db"));
    db.prepare("UPDATE replication_state SET signing_key = ''").run();
    db.close();
    await A.daemon.start();
    await waitFor("A to publish its product again, signed", async () => (openRecord(key, (await kv.get(key))!.value).signature?.signer === A.id ? true : undefined), 15000, 100);
  });

  it("required: after the switch, a new unsigned record of the earlier daemon is refused, and what was applied stays", async () => {
    for (const m of fed.members) {
      await m.daemon.stop();
      setSignatures(m.daemon, "required");
      await m.daemon.start();
    }
    const moved: RouteChange = { kind: "instance", route: { ...(oldRecords[0]!.route as Extract<RouteChange, { kind: "instance" }>["route"]), mqttHost: "mqtt.moved.example.com", version: Date.now() + 5000 } };
    await readBy(await kv.put(keyOf(moved), encodeRecord(moved, OLD)));
    for (const m of fed.members) {
      assert.ok((await metricSum(m.daemon, "iotfed_replication_refused_total", { kind: "instance", reason: "unsigned" })) >= 1, `${m.id} refused it`);
      assert.equal(await endpointHost(m.daemon, oldPk, "any-device"), "mqtt.old.example.com");
    }
    // The peer plane too: an unsigned bundle and a confirm without a release are refused.
    const peer = peerClientAs(fed.certDir, A, B);
    try {
      await rejects(peer.handoff({ jobId: "job_legacyPeer002", product: unsignedBundle(), devices: [device("relay-2")], targetAccountId: legacy.accountId, strategy: "specified" }), grpc.status.PERMISSION_DENIED, /carries no signature of its owner .* \(unsigned\)/);
      await rejects(peer.confirmHandoff({ jobId: "job_legacyPeer001", productKey: legacy.pk, devices: [{ deviceName: "relay-1", generation: 1n }] }), grpc.status.INVALID_ARGUMENT, /release: is required/);
    } finally {
      peer.close();
    }
    const b = B.daemon.admin(legacy.accountId);
    try {
      await rejects(b.queryDeviceDetail({ productKey: legacy.pk, deviceName: "relay-2" }), grpc.status.NOT_FOUND, /does not exist|not found/i);
    } finally {
      b.close();
    }
  });
});
