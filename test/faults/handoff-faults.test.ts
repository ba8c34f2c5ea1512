import assert from "node:assert/strict";
import { copyFileSync, readFileSync, rmSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { JobStatus, DevicePlacement } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { PeerService } from "../../internal/gen/iotfed/v1/peer_pb.js";
import { createUnaryClient } from "../../internal/rpc/index.js";
import { peerClientCredentials } from "../../internal/peer/index.js";
import { bootstrap, makeCerts, startFederation, tempDir, waitFor, type AdminClient, type FederationMember } from "../support/daemon.js";
import { assertOneHolderEach as oneHolderEach, waitJob } from "../support/jobs.js";
import { peerClientAs, signedWireBundle, signingKeyOf, wireBundle } from "../support/peer.js";

const NAMES = Array.from({ length: 1000 }, (_, i) => `dev-${String(i).padStart(4, "0")}`);
const assertOneHolderEach = (src: AdminClient, dst: AdminClient, productKey: string, dstId: string) => oneHolderEach(src, dst, productKey, dstId, NAMES);

async function seed(A: FederationMember) {
  const acct = await A.daemon.ctlJson(["account", "create", "acme"]);
  const accountId = acct.account.accountId as string;
  const a = A.daemon.admin(accountId);
  const pk = (await a.createProduct({ productName: "Sensor" })).product!.productKey;
  await a.batchRegisterDevice({ productKey: pk, deviceNames: NAMES });
  return { accountId, a, pk };
}

describe("handoff crash safety (SIGKILL or SIGTERM mid-job)", function () {
  this.timeout(240000);

  for (const [victim, signal] of [["target", "SIGKILL"], ["source", "SIGKILL"], ["source", "SIGTERM"]] as const) {
    it(`${signal} of the ${victim} in the middle of a 1,000-device job: ${signal === "SIGTERM" ? "it drains and exits 0 in time; " : ""}after restart the job completes and every device has exactly one holder`, async () => {
      const fed = await startFederation(2, { peer: { batchSize: 25 } });
      const [A, B] = fed.members as [FederationMember, FederationMember];
      try {
        const { accountId, pk } = await seed(A);
        let a = A.daemon.admin(accountId);
        let b = B.daemon.admin(accountId);
        const created = await a.createDeviceDistributeJob({ productKey: pk, targetInstanceId: B.id, deviceNames: NAMES });
        const jobId = created.job!.jobId;
        // Kill once some batches are through and others are not.
        const progress = await waitFor("the job to be partway", async () => {
          const j = (await a.queryDeviceDistributeJob({ jobId })).job!;
          return j.succeeded >= 50 ? j.succeeded : undefined;
        }, 30000, 5);
        const dying = victim === "target" ? B : A;
        if (signal === "SIGKILL") {
          await dying.daemon.kill();
        } else {
          const t0 = performance.now();
          assert.equal(await dying.daemon.stop(), 0, "a graceful stop exits 0");
          const ms = performance.now() - t0;
          assert.ok(ms < 10000 + 2000, `drained in ${Math.round(ms)} ms (shutdownTimeoutMs 10000)`);
          console.log(`      (drained and stopped in ${Math.round(ms)} ms)`);
        }
        assert.ok(progress < 1000, `the ${signal} must land mid-job (${progress} of 1000 done)`);
        console.log(`      (${victim} ${signal === "SIGKILL" ? "killed" : "stopped"} with ${progress} of 1,000 devices handed off)`);
        if (victim === "target") {
          // The source keeps the job running, retrying, while the target is down.
          await waitFor("the source to notice", async () => ((await a.queryDeviceDistributeJob({ jobId })).job!.message.includes("unreachable") ? true : undefined), 20000, 50);
          assert.equal((await a.queryDeviceDistributeJob({ jobId })).job!.status, JobStatus.RUNNING);
        }
        await dying.daemon.start();
        a.close();
        b.close();
        a = A.daemon.admin(accountId);
        b = B.daemon.admin(accountId);
        const job = await waitJob(() => a, jobId);
        assert.equal(job.status, JobStatus.COMPLETED, job.message);
        assert.equal(job.succeeded, 1000, `killed at ${progress} succeeded`);
        assert.equal(job.failed, 0);
        await assertOneHolderEach(a, b, pk, B.id);
        for (const n of ["dev-0000", "dev-0500", "dev-0999"]) {
          assert.equal((await bootstrap(A.daemon.addresses!.bootstrap, `productKey=${pk}&deviceName=${n}`)).json.data.resources.mqtt.host, B.mqtt.host);
        }
        a.close();
        b.close();
      } finally {
        await fed.dispose();
      }
    });
  }
});

describe("handoff faults and the peer plane's security", function () {
  this.timeout(120000);
  let fed: Awaited<ReturnType<typeof startFederation>>;
  let A: FederationMember, B: FederationMember;

  before(async () => {
    fed = await startFederation(2, { peer: { retryWindowMs: 1500 } });
    [A, B] = fed.members as [FederationMember, FederationMember];
  });
  after(async () => {
    await fed?.dispose();
  });

  it("R13: a target unreachable past the retry window fails the job; its devices stay leaving (never two holders); a retry completes it", async () => {
    const acct = await A.daemon.ctlJson(["account", "create", "acme"]);
    const a = A.daemon.admin(acct.account.accountId);
    const pk = (await a.createProduct({ productName: "Lamp" })).product!.productKey;
    const names = ["lamp-0001", "lamp-0002", "lamp-0003"];
    await a.batchRegisterDevice({ productKey: pk, deviceNames: names });
    await B.daemon.stop();
    const created = await a.createDeviceDistributeJob({ productKey: pk, targetInstanceId: B.id, deviceNames: names });
    const failed = await waitJob(() => a, created.job!.jobId, 30000);
    assert.equal(failed.status, JobStatus.FAILED);
    assert.equal(failed.statusCode, 3, "the OpenAPI's 'interrupted'");
    assert.match(failed.message, /unreachable since .*past the 1500 ms retry window: retry the job/);
    for (const n of names) {
      assert.equal((await a.queryDeviceDetail({ productKey: pk, deviceName: n })).device!.placement, DevicePlacement.LEAVING);
      assert.equal((await bootstrap(A.daemon.addresses!.bootstrap, `productKey=${pk}&deviceName=${n}`)).json.data.resources.mqtt.host, A.mqtt.host);
    }
    const m = await A.daemon.metrics();
    assert.match(m, new RegExp(`iotfed_peer_call_errors_total\\{peer="${B.id}",code="UNAVAILABLE"\\} [1-9]`));
    assert.match(m, /iotfed_jobs\{status="failed"\} 1/);
    assert.match(m, /iotfed_outbox_depth\{kind="job_devices"\} 3/);

    await B.daemon.start();
    const retried = await A.daemon.ctlJson(["job", "retry", created.job!.jobId], { asAccount: acct.account.accountId });
    assert.equal(retried.job.status, "JOB_STATUS_RUNNING");
    const done = await waitJob(() => a, created.job!.jobId);
    assert.equal(done.status, JobStatus.COMPLETED);
    assert.equal(done.succeeded, 3);
    a.close();
  });

  it("a repeated handoff returns the stored outcome and changes nothing; another job for a device already held is refused", async () => {
    const peer = peerClientAs(fed.certDir, A, B, 5000);
    const product = signedWireBundle(wireBundle({ productKey: "dupTest0001", accountId: "9990000000000001", accountName: "dup-account", productName: "Dup", ownerInstanceId: A.id }), signingKeyOf(fed.certDir, A.id));
    const device = { deviceName: "dup-0001", deviceSecret: "s".repeat(32), iotId: "iot-dup-0001", generation: 1n, homeInstanceId: A.id, createTimeMs: 1n };
    const first = await peer.handoff({ jobId: "job_dup", product, devices: [device], targetAccountId: product.accountId });
    const again = await peer.handoff({ jobId: "job_dup", product, devices: [device], targetAccountId: product.accountId });
    assert.equal(first.outcomes[0]!.accepted, true);
    assert.deepEqual(again.outcomes, first.outcomes);
    const other = await peer.handoff({ jobId: "job_other", product, devices: [device], targetAccountId: product.accountId });
    assert.equal(other.outcomes[0]!.accepted, false);
    assert.match(other.outcomes[0]!.errorMessage, /already held by/);
    const b = B.daemon.admin(product.accountId);
    assert.equal((await b.queryDevice({ productKey: "dupTest0001", pageSize: 10 })).devices.length, 1);
    b.close();
    peer.close();
  });

  it("owner updates flow owner → copies, never the other way round", async () => {
    const acct = await A.daemon.ctlJson(["account", "create", "owner-test"]);
    const a = A.daemon.admin(acct.account.accountId);
    const pk = (await a.createProduct({ productName: "Owned", description: "by A" })).product!.productKey;
    const job = await a.createProductDistributeJob({ productKey: pk, targetInstanceId: B.id });
    await waitJob(() => a, job.job!.jobId);
    // B (a configured peer with a valid certificate) tries to push a "newer" version to the owner.
    const asB = peerClientAs(fed.certDir, B, A, 5000);
    const forged = wireBundle({ productKey: pk, accountId: acct.account.accountId, accountName: "owner-test", productName: "Hijacked", status: "published", ownerInstanceId: A.id, version: 999n });
    await assert.rejects(asB.syncProduct({ product: forged }), /PERMISSION_DENIED: .* neither owns product .* nor sent it here/);
    // Devices may come home with their product's bundle; the owner's product itself never changes by it.
    const before = (await a.queryProduct({ productKey: pk })).product!;
    const back = await asB.handoff({ jobId: "job_forge", product: forged, devices: [] });
    assert.equal(back.productVersion, before.version);
    const after = (await a.queryProduct({ productKey: pk })).product!;
    assert.equal(after.productName, "Owned");
    assert.equal(after.version, before.version);
    asB.close();
    a.close();
  });

  describe("peer plane: mutual TLS with identity = certificate name", () => {
    const handoff = async (creds: grpc.ChannelCredentials) => {
      const client = createUnaryClient(PeerService, B.peerAddress, creds, { defaultDeadlineMs: 3000, "grpc.ssl_target_name_override": "localhost" });
      try {
        return await client.handoff({ jobId: "job_x", product: { productKey: "xxxxxxxxxxx" } }).then(
          () => "accepted",
          (e: grpc.ServiceError) => `${grpc.status[e.code]}: ${e.details}`,
        );
      } finally {
        client.close();
      }
    };

    it("a client without a certificate gets nothing", async () => {
      const r = await handoff(grpc.credentials.createSsl(readFileSync(`${fed.certDir}/ca.crt`)));
      assert.match(r, /^UNAVAILABLE/);
    });

    it("a client with a certificate from another CA gets nothing, even under a configured peer's name", async () => {
      const dir = tempDir("iotfed-rogue-ca-");
      try {
        const rogue = makeCerts(dir, [A.id]);
        const r = await handoff(grpc.credentials.createSsl(readFileSync(`${fed.certDir}/ca.crt`), readFileSync(rogue.key(A.id)), readFileSync(rogue.cert(A.id))));
        assert.match(r, /^UNAVAILABLE/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("a client with a federation certificate whose name is not a configured peer is refused", async () => {
      const dir = tempDir("iotfed-wrong-name-");
      try {
        // Same CA: copy the federation's CA into a new folder and sign a new name with it.
        for (const f of ["ca.crt", "ca.key"]) copyFileSync(`${fed.certDir}/${f}`, `${dir}/${f}`);
        const wrong = makeCerts(dir, ["iot-not-a-peer"]);
        const r = await handoff(grpc.credentials.createSsl(readFileSync(wrong.ca), readFileSync(wrong.key("iot-not-a-peer")), readFileSync(wrong.cert("iot-not-a-peer"))));
        assert.match(r, /^PERMISSION_DENIED: caller iot-not-a-peer is not a peer of /);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("the source refuses a server whose certificate names another instance than the one it meant to call", async () => {
      const certs = { ca: readFileSync(`${fed.certDir}/ca.crt`), cert: readFileSync(`${fed.certDir}/${A.id}.crt`), key: readFileSync(`${fed.certDir}/${A.id}.key`) };
      // B's listener, but we expect to be talking to A: the handshake must fail.
      const r = await handoff(peerClientCredentials(certs, A.id));
      assert.match(r, /^UNAVAILABLE/);
    });
  });
});
