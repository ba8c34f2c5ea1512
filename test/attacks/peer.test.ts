import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { JobStatus, DevicePlacement } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { endpointHost, startFederation, waitFor, type AdminClient, type FederationMember, type TestDaemon } from "../support/daemon.js";
import { NatsServer } from "../support/nats.js";
import { listAll, waitJob } from "../support/jobs.js";
import { peerClientAs, signedWireBundle, signingKeyOf, wireBundle } from "../support/peer.js";
import { rejects } from "../support/grpc.js";
import type { PeerClient } from "../../internal/peer/index.js";

/*
 * Attacks through the peer plane with a real member's certificate (C, a
 * compromised region): a Handoff may bring a daemon only devices that the
 * caller holds, into the account the product belongs to, and may not
 * rewrite a product copy the caller does not own or send. Each case checks
 * that nothing changed at the receiver and that the refusal was counted.
 */

const refusedCount = async (d: TestDaemon, reason = "not_holder"): Promise<number> => {
  const line = (await d.metrics()).split("\n").find((l) => l.startsWith(`iotfed_peer_refused_total{reason="${reason}"}`));
  return line === undefined ? 0 : Number(line.split(" ").pop());
};
const secret = "s".repeat(32);

describe("attacks through the peer plane: a Handoff brings only devices the caller holds, into the product's own account; codes and placement only from the parties", function () {
  this.timeout(120000);
  let nats: NatsServer;
  let fed: Awaited<ReturnType<typeof startFederation>>;
  let A: FederationMember, B: FederationMember, C: FederationMember;
  let a: AdminClient;
  let accountId: string;
  let victim: string;
  let pk: string;
  let bundle: ReturnType<typeof signedWireBundle<ReturnType<typeof wireBundle>>>;
  let asC: (to: FederationMember) => PeerClient;

  before(async () => {
    nats = await NatsServer.start();
    fed = await startFederation(3, { config: { replication: { servers: [nats.url] } } });
    [A, B, C] = fed.members as [FederationMember, FederationMember, FederationMember];
    accountId = (await A.daemon.ctlJson(["account", "create", "acme"])).account.accountId;
    victim = (await B.daemon.ctlJson(["account", "create", "victim"])).account.accountId;
    a = A.daemon.admin(accountId);
    const p = (await a.createProduct({ productName: "Valve" })).product!;
    pk = p.productKey;
    await a.batchRegisterDevice({ productKey: pk, deviceNames: ["valve-1", "valve-2"] });
    const job = (await a.createDeviceDistributeJob({ productKey: pk, targetRegionId: B.region, targetInstanceId: B.id, deviceNames: ["valve-1"] })).job!;
    assert.equal((await waitJob(a, job.jobId)).status, JobStatus.COMPLETED);
    await waitFor("valve-1 at B everywhere", async () => ((await Promise.all(fed.members.map((m) => endpointHost(m.daemon, pk, "valve-1")))).every((h) => h === B.mqtt.host) ? true : undefined), 15000, 50);
    // A's genuine signature of its bundle, as C would relay it from a copy it holds.
    bundle = signedWireBundle(wireBundle({ productKey: pk, accountId, accountName: "acme", productName: "Valve", ownerInstanceId: A.id, version: p.version }), signingKeyOf(fed.certDir, A.id));
    asC = (to) => peerClientAs(fed.certDir, C, to);
  });
  after(async () => {
    a?.close();
    await fed?.dispose();
    await nats?.dispose();
  });

  it("R4: cross-account without a code — the bundle names the victim's account as the product's — is refused whole; nothing arrives in the victim's account", async () => {
    const peer = asC(B);
    try {
      const forged = { ...bundle, accountId: victim, accountName: "victim" };
      await rejects(
        peer.handoff({ jobId: "job_forgedAccount01", sourceRegionId: C.region, product: forged, devices: [{ deviceName: "planted-1", deviceSecret: secret, iotId: "iot-planted-1", generation: 1n, homeInstanceId: A.id, createTimeMs: 1n }], strategy: "specified" }),
        grpc.status.PERMISSION_DENIED,
        new RegExp(`R4: nothing shows that product ${pk} belongs to account ${victim}`),
      );
      const b = B.daemon.admin(victim);
      try {
        await rejects(b.queryProduct({ productKey: pk }), grpc.status.NOT_FOUND, /does not exist|not found/i);
      } finally {
        b.close();
      }
    } finally {
      peer.close();
    }
  });

  it("devices injected under the receiver's own product are refused; none appears at A", async () => {
    const peer = asC(A);
    const before = await refusedCount(A.daemon);
    try {
      const r = await peer.handoff({ jobId: "job_injected00001", sourceRegionId: C.region, product: bundle, devices: [{ deviceName: "planted-2", deviceSecret: secret, iotId: "iot-planted-2", generation: 1n, homeInstanceId: A.id, createTimeMs: 1n }], strategy: "specified" });
      assert.equal(r.outcomes[0]!.accepted, false);
      assert.equal(r.outcomes[0]!.errorCode, "PERMISSION_DENIED");
      assert.match(r.outcomes[0]!.errorMessage, /is not its holder/);
    } finally {
      peer.close();
    }
    await rejects(a.queryDeviceDetail({ productKey: pk, deviceName: "planted-2" }), grpc.status.NOT_FOUND, /does not exist|not found/i);
    assert.ok((await refusedCount(A.daemon)) > before, "counted");
  });

  it("an away device is taken back only by its holder: C's Handoff of valve-1 (held by B) to A is refused, and A still says B holds it", async () => {
    const peer = asC(A);
    try {
      const r = await peer.handoff({ jobId: "job_takeback0001", sourceRegionId: C.region, product: bundle, devices: [{ deviceName: "valve-1", deviceSecret: secret, iotId: "iot-valve-1", generation: 2n, homeInstanceId: A.id, createTimeMs: 1n }], strategy: "specified" });
      assert.equal(r.outcomes[0]!.accepted, false);
      assert.match(r.outcomes[0]!.errorMessage, /not its holder \(contradicts_holder\)/);
    } finally {
      peer.close();
    }
    const atA = (await listAll(a, pk)).get("valve-1")!;
    assert.equal(atA.placement, DevicePlacement.AWAY);
    assert.equal(atA.holder, B.id);
    for (const m of fed.members) assert.equal(await endpointHost(m.daemon, pk, "valve-1"), B.mqtt.host);
  });

  it("a copy owned by A is not rewritten by C: its bundle changed after A signed it, signed by C, or unsigned — refused, and B's copy stays as it was", async () => {
    const b = B.daemon.admin(accountId);
    try {
      const before = (await b.queryProduct({ productKey: pk })).product!;
      const beforeRefused = await refusedCount(B.daemon, "forged_bundle");
      const hijacked = { version: before.version + 10n, productName: "Hijacked", topics: [{ topicShortName: "everything", operation: "all", description: "" }] };
      const attempts: [string, ReturnType<typeof wireBundle>, RegExp][] = [
        ["A's signature, fields changed", { ...bundle, ...hijacked }, /is not as its owner .* signed it .*\(bad_signature\)/],
        ["signed by C", signedWireBundle(wireBundle({ ...bundle, ...hijacked, ownerCertificate: new Uint8Array(), ownerSignature: new Uint8Array() }), signingKeyOf(fed.certDir, C.id)), /signed with a certificate that is not its owner's: the certificate names .*, not .* \(bad_certificate\)/],
        ["unsigned", wireBundle({ ...bundle, ...hijacked, ownerCertificate: new Uint8Array(), ownerSignature: new Uint8Array() }), /carries no signature of its owner .* \(unsigned\)/],
      ];
      const peer = asC(B);
      try {
        for (const [what, product, why] of attempts) {
          await rejects(peer.handoff({ jobId: "job_rewrite00001", sourceRegionId: C.region, product, devices: [], strategy: "specified" }), grpc.status.PERMISSION_DENIED, why);
          await rejects(peer.syncProduct({ product }), grpc.status.PERMISSION_DENIED, /neither owns product .* nor sent it here/);
          const after = (await b.queryProduct({ productKey: pk })).product!;
          assert.equal(after.version, before.version, what);
          assert.equal(after.productName, "Valve", what);
        }
      } finally {
        peer.close();
      }
      assert.equal(await refusedCount(B.daemon, "forged_bundle"), beforeRefused + attempts.length, "counted");
    } finally {
      b.close();
    }
  });

  it("a forwarder relays its owner's signature and may not change the bundle: B passes valve-1 on to C, then B's altered bundle is refused at C", async () => {
    const atB = B.daemon.admin(accountId);
    const atC = C.daemon.admin(accountId);
    try {
      const job = (await atB.createDeviceDistributeJob({ productKey: pk, targetRegionId: C.region, targetInstanceId: C.id, deviceNames: ["valve-1"] })).job!;
      assert.equal((await waitJob(atB, job.jobId)).status, JobStatus.COMPLETED, "C took B's copy with A's signature");
      const copy = (await atC.queryProduct({ productKey: pk })).product!;
      assert.equal(copy.ownerInstanceId, A.id);
      const asB = peerClientAs(fed.certDir, B, C);
      try {
        const altered = { ...bundle, version: copy.version + 1n, topics: [{ topicShortName: "everything", operation: "all", description: "" }] };
        await rejects(asB.syncProduct({ product: altered }), grpc.status.PERMISSION_DENIED, /is not as its owner .* signed it .*\(bad_signature\)/);
        await rejects(asB.handoff({ jobId: "job_forwarder0001", sourceRegionId: B.region, product: altered, devices: [], strategy: "specified" }), grpc.status.PERMISSION_DENIED, /\(bad_signature\)/);
      } finally {
        asB.close();
      }
      assert.equal((await atC.queryProduct({ productKey: pk })).product!.version, copy.version, "C's copy stays as A made it");
      assert.equal((await atC.queryProductTopic({ productKey: pk })).topics.length, 0);
    } finally {
      atB.close();
      atC.close();
    }
  });

  it("R4: RedeemAuthCode from a peer that is not the job's source is refused, and the code stays good for the real source", async () => {
    const v = B.daemon.admin(victim);
    try {
      const issued = await a.requestAuthCode({ targetAccountId: victim, targetRegionId: B.region, targetInstanceId: B.id });
      const shown = (await v.listAuthCodes({ pageSize: 10 })).codes.find((c) => c.codeId === issued.codeId)!;
      assert.equal(shown.requesterInstanceId, A.id, "the target sees which instance asked");
      const code = shown.code;
      const peer = asC(B);
      try {
        await rejects(
          peer.redeemAuthCode({ code, requesterAccountId: accountId, targetAccountId: victim, jobId: "job_stolenCode0001", productKey: pk }),
          grpc.status.FAILED_PRECONDITION,
          new RegExp(`no authorization code was issued to account ${victim} for account ${accountId} at ${C.id}`),
        );
      } finally {
        peer.close();
      }
      const job = (await a.createDeviceDistributeJob({ productKey: pk, targetRegionId: B.region, targetInstanceId: B.id, targetAccountId: victim, authCode: code, deviceNames: ["valve-2"] })).job!;
      assert.equal((await waitJob(a, job.jobId)).status, JobStatus.COMPLETED, "the code was not used up by C's try");
    } finally {
      v.close();
    }
  });

  it("R3: PlaceDevice from a peer that is neither the product's owner nor a candidate is refused; the device stays", async () => {
    const meter = (await a.createProduct({ productName: "Meter" })).product!.productKey;
    await a.registerDevice({ productKey: meter, deviceName: "meter-1" });
    const job = (await a.createDeviceDistributeJob({ productKey: meter, strategy: "nearest", candidates: [A, B].map((m) => ({ regionId: m.region, instanceId: m.id })), deviceNames: ["meter-1"] })).job!;
    assert.equal((await waitJob(a, job.jobId)).status, JobStatus.COMPLETED);
    await waitFor("C to learn the product route", async () => ((await endpointHost(C.daemon, meter, "meter-1")) === A.mqtt.host ? true : undefined), 15000, 50);
    const before = await refusedCount(A.daemon, "not_party");
    const peer = asC(A);
    try {
      await rejects(
        peer.placeDevice({ productKey: meter, deviceName: "meter-1", targetInstanceId: B.id, waitMs: 3000 }),
        grpc.status.PERMISSION_DENIED,
        new RegExp(`R3: ${C.id} is neither the owner nor a candidate of product ${meter}`),
      );
    } finally {
      peer.close();
    }
    assert.equal((await listAll(a, meter)).get("meter-1")!.placement, DevicePlacement.HERE, "still held at A");
    for (const m of fed.members) assert.equal(await endpointHost(m.daemon, meter, "meter-1"), A.mqtt.host);
    assert.equal(await refusedCount(A.daemon, "not_party"), before + 1, "counted");
  });

  it("a code's requester name comes from the account directory: A's IssueAuthCode naming acme \"Your Bank\" shows acme's own name to the target", async () => {
    const peer = peerClientAs(fed.certDir, A, B);
    try {
      await peer.issueAuthCode({ requesterAccountId: accountId, requesterAccountName: "Your Bank", targetAccountId: victim });
      await rejects(peer.issueAuthCode({ requesterAccountId: "9999999999999999", requesterAccountName: "Nobody", targetAccountId: victim }), grpc.status.FAILED_PRECONDITION, /not in the account directory/);
    } finally {
      peer.close();
    }
    const v = B.daemon.admin(victim);
    try {
      const codes = (await v.listAuthCodes({ pageSize: 10 })).codes;
      assert.ok(codes.length >= 1);
      for (const c of codes) assert.equal(c.requesterAccountName, "acme");
    } finally {
      v.close();
    }
  });
});
