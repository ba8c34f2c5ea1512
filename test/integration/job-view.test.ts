import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { JobStatus } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { startFederation, waitFor, type AdminClient, type FederationMember } from "../support/daemon.js";
import { waitJob } from "../support/jobs.js";
import { NatsServer } from "../support/nats.js";
import { rejects } from "../support/grpc.js";
import { peerClientAs, signingKeyOf } from "../support/peer.js";
import { signReleases } from "../../internal/trust/index.js";

type Fed = Awaited<ReturnType<typeof startFederation>>;

/**
 * One view of every instance's jobs from any daemon: the job calls for a
 * job (or a source) at another instance are run there over the peer plane,
 * for the same account, with that instance's own checks.
 */
describe("jobs: one view from any daemon", function () {
  this.timeout(120000);
  let nats: NatsServer;
  let fed: Fed;
  let A: FederationMember, B: FederationMember, C: FederationMember;
  let accountId: string;
  let other: string;
  const admin = (m: FederationMember, acct = accountId): AdminClient => m.daemon.admin(acct);
  let jobA: string, jobB: string;
  let pkA: string;

  before(async () => {
    nats = await NatsServer.start();
    fed = await startFederation(3, { config: { replication: { servers: [nats.url] } } });
    [A, B, C] = fed.members as [FederationMember, FederationMember, FederationMember];
    accountId = (await A.daemon.ctlJson(["account", "create", "acme"])).account.accountId as string;
    other = (await A.daemon.ctlJson(["account", "create", "other"])).account.accountId as string;
    await waitFor("the accounts in every directory", async () => {
      for (const m of [B, C]) if ((await m.daemon.ctl(["--json", "account", "list"])).stdout.includes(other) === false) return undefined;
      return true;
    }, 20000, 100);
    const a = admin(A);
    const b = admin(B);
    pkA = (await a.createProduct({ productName: "Meter A" })).product!.productKey;
    const pkB = (await b.createProduct({ productName: "Meter B" })).product!.productKey;
    await a.registerDevice({ productKey: pkA, deviceName: "dev-a-1" });
    await b.registerDevice({ productKey: pkB, deviceName: "dev-b-1" });
    jobA = (await a.createDeviceDistributeJob({ productKey: pkA, targetInstanceId: B.id, deviceNames: ["dev-a-1"] })).job!.jobId;
    jobB = (await b.createDeviceDistributeJob({ productKey: pkB, targetInstanceId: C.id, deviceNames: ["dev-b-1"] })).job!.jobId;
    await waitJob(a, jobA);
    await waitJob(b, jobB);
    a.close();
    b.close();
  });
  after(async () => {
    await fed?.dispose();
    await nats?.dispose();
  });

  it("the job list at C shows the jobs of A and B, with their sources, and filters by source region and instance, status and target", async () => {
    const c = admin(C);
    try {
      const all = await c.listDeviceDistributeJob({ allInstances: true });
      assert.deepEqual(all.unreachableInstances, []);
      const byId = new Map(all.jobs.map((j) => [j.jobId, j]));
      assert.equal(byId.get(jobA)?.sourceInstanceId, A.id);
      assert.equal(byId.get(jobB)?.sourceInstanceId, B.id);
      assert.equal(byId.get(jobA)?.status, JobStatus.COMPLETED);
      assert.deepEqual((await c.listDeviceDistributeJob({ allInstances: true, sourceRegionId: B.region })).jobs.map((j) => j.jobId), [jobB]);
      assert.deepEqual((await c.listDeviceDistributeJob({ allInstances: true, sourceInstanceId: A.id })).jobs.map((j) => j.jobId), [jobA]);
      assert.deepEqual((await c.listDeviceDistributeJob({ allInstances: true, targetInstanceId: C.id })).jobs.map((j) => j.jobId), [jobB]);
      assert.deepEqual((await c.listDeviceDistributeJob({ allInstances: true, status: JobStatus.FAILED })).jobs, []);
      // Another account sees none of them, anywhere.
      assert.deepEqual((await admin(C, other).listDeviceDistributeJob({ allInstances: true })).jobs, []);
      // The CLI, the same.
      const cli = await C.daemon.ctlJson(["job", "list", "--all-instances"], { asAccount: accountId });
      assert.deepEqual(new Set((cli.jobs as { jobId: string }[]).map((j) => j.jobId)), new Set([jobA, jobB]));
    } finally {
      c.close();
    }
  });

  it("job get and detail at C for a job of A, with or without naming its source; another account gets NOT_FOUND", async () => {
    const c = admin(C);
    try {
      assert.equal((await c.queryDeviceDistributeJob({ jobId: jobA })).job!.sourceInstanceId, A.id, "found at the peer that runs it");
      assert.equal((await c.queryDeviceDistributeJob({ jobId: jobA, sourceInstanceId: A.id })).job!.jobId, jobA);
      assert.deepEqual((await c.queryDeviceDistributeDetail({ jobId: jobA, sourceInstanceId: A.id })).results.map((r) => r.result), ["succeeded"]);
      await rejects(admin(C, other).queryDeviceDistributeJob({ jobId: jobA, sourceInstanceId: A.id }), grpc.status.NOT_FOUND, /does not exist/);
      const waited = await C.daemon.ctlJson(["job", "wait", jobA, "--source-instance", A.id], { asAccount: accountId });
      assert.equal(waited.job.jobId, jobA);
    } finally {
      c.close();
    }
  });

  it("a job created at C for source A runs at A, and A decides whether the caller may", async () => {
    const a = admin(A);
    const c = admin(C);
    try {
      await a.registerDevice({ productKey: pkA, deviceName: "dev-a-2" });
      const created = (await c.createDeviceDistributeJob({ productKey: pkA, targetInstanceId: B.id, deviceNames: ["dev-a-2"], sourceInstanceId: A.id })).job!;
      assert.equal(created.sourceInstanceId, A.id);
      assert.equal((await waitJob(a, created.jobId)).status, JobStatus.COMPLETED, "A ran it");
      await rejects(
        admin(C, other).createDeviceDistributeJob({ productKey: pkA, targetInstanceId: B.id, deviceNames: ["dev-a-2"], sourceInstanceId: A.id }),
        grpc.status.NOT_FOUND,
        /product .* does not exist/,
      );
    } finally {
      a.close();
      c.close();
    }
  });

  it("only a job's source may fence or release its devices: another member's FenceHandoff is refused and its ConfirmHandoff changes nothing", async () => {
    const asC = peerClientAs(fed.certDir, C, B);
    try {
      const refs = [{ deviceName: "dev-a-1", generation: 1n }];
      await rejects(asC.fenceHandoff({ jobId: jobA, productKey: pkA, devices: refs }), grpc.status.PERMISSION_DENIED, new RegExp(`job ${jobA} is not ${C.id}'s`));
      await rejects(asC.confirmHandoff({ jobId: jobA, productKey: pkA, devices: refs }), grpc.status.INVALID_ARGUMENT, /release: is required/);
      const releaseByC = signReleases(signingKeyOf(fed.certDir, C.id), { productKey: pkA, to: B.id, account: accountId, nearest: false }, [{ deviceName: "dev-a-1", generation: 1 }]);
      assert.equal((await asC.confirmHandoff({ jobId: jobA, productKey: pkA, devices: refs, release: releaseByC })).confirmed, 0, "C's own release of a device it never held confirms nothing");
      const releaseByA = signReleases(signingKeyOf(fed.certDir, A.id), { productKey: pkA, to: B.id, account: accountId, nearest: false }, [{ deviceName: "dev-a-1", generation: 1 }]);
      await rejects(asC.confirmHandoff({ jobId: jobA, productKey: pkA, devices: refs, release: releaseByA }), grpc.status.PERMISSION_DENIED, /signed with a key other than the certificate/);
      // and a member cannot have another's admin calls run for it
      await rejects(asC.forwardJobCall({ accountId, method: "CreateAccount", request: new Uint8Array() }), grpc.status.INVALID_ARGUMENT, /not a job call/);
    } finally {
      asC.close();
    }
  });

  it("an instance that does not answer is named in the list, never silently missing", async () => {
    await B.daemon.kill();
    const c = admin(C);
    try {
      const r = await c.listDeviceDistributeJob({ allInstances: true });
      assert.deepEqual(r.unreachableInstances, [B.id]);
      assert.ok(r.jobs.some((j) => j.jobId === jobA), "the others still answer");
      const cli = await C.daemon.ctl(["job", "list", "--all-instances"], { asAccount: accountId });
      assert.equal(cli.code, 0);
      assert.match(cli.stderr, new RegExp(`${B.id} did not answer`));
    } finally {
      c.close();
    }
  });
});
