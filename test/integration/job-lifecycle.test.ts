import assert from "node:assert/strict";
import { DevicePlacement, DeviceStatus, JobStatus } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { bootstrap, freePort, startFederation, tempDir, waitFor, type AdminClient, type FederationMember } from "../support/daemon.js";
import { waitJob } from "../support/jobs.js";
import { NatsServer } from "../support/nats.js";
import { connect, refusalCode, signIn } from "../support/mqtt.js";
import { peerClientAs, signedWireBundle, signingKeyOf, wireBundle } from "../support/peer.js";
import { rejects } from "../support/grpc.js";
import * as grpc from "@grpc/grpc-js";
import { createHmac } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { connect as connectNats } from "@nats-io/transport-node";

type Fed = Awaited<ReturnType<typeof startFederation>>;

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms).unref())]);

const form = (pk: string, dn: string): string => `productKey=${pk}&deviceName=${encodeURIComponent(dn)}&clientId=${pk}.${dn}&resources=mqtt`;

/**
 * Distribution jobs in a bad hour (R6, R8, R13): a device stays usable at
 * its source until its target durably accepted it (cut-over at commit); a
 * job that is not completed can be aborted, fenced at the target or forced
 * without it; a device that comes back is inactive until it connects.
 * Real daemons with their embedded MQTT brokers, real NATS, real clients.
 */
describe("jobs: cut-over at commit, abort, return (R6, R8, R13)", function () {
  this.timeout(180000);
  let nats: NatsServer;
  let fed: Fed;
  let A: FederationMember, B: FederationMember;
  let a: AdminClient, b: AdminClient;
  let accountId: string;
  let pk: string;
  const secrets = new Map<string, string>();
  const ports: number[] = [];
  const mqttPort = (m: FederationMember): number => ports[fed.members.indexOf(m)]!;
  const admin = (m: FederationMember): AdminClient => m.daemon.admin(accountId);

  // A webhook receiver at A's side: it refuses its first request (500), then records every event.
  const hooks: { status: number; id: string; type: string; jobId: string; signature: string; timestamp: string; body: string }[] = [];
  let receiver: Server;
  const webhookSecret = "whsec_" + "k".repeat(32);
  const dir = tempDir("iotfed-webhook-");

  before(async () => {
    nats = await NatsServer.start();
    receiver = createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8").on("data", (c: string) => (body += c));
      req.on("end", () => {
        const e = JSON.parse(body) as { id: string; type: string; jobId: string };
        const status = hooks.length === 0 ? 500 : 204;
        hooks.push({ status, id: e.id, type: e.type, jobId: e.jobId, signature: String(req.headers["x-iotfed-signature"]), timestamp: String(req.headers["x-iotfed-timestamp"]), body });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((ok) => receiver.listen(0, "127.0.0.1", ok));
    writeFileSync(join(dir, "webhook.secret"), webhookSecret + "\n", { mode: 0o600 });
    ports.push(await freePort(), await freePort());
    fed = await startFederation(2, {
      config: { replication: { servers: [nats.url] } },
      peer: { retryWindowMs: 600000, callTimeoutMs: 3000 },
      configFor: (i) => ({
        instance: { id: `iot-${["cn-shanghai", "ap-southeast-1"][i]}-1`, kind: "public", mqtt: { host: "127.0.0.1", port: ports[i]! } },
        mqtt: { broker: { enabled: true, listen: `127.0.0.1:${ports[i]!}`, notifyGraceMs: 300 } },
        ...(i === 0
          ? { jobs: { progressEvery: 1, webhooks: [{ url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/iotfed`, secretFile: join(dir, "webhook.secret") }] } }
          : {}),
      }),
    });
    [A, B] = fed.members as [FederationMember, FederationMember];
    accountId = (await A.daemon.ctlJson(["account", "create", "acme"])).account.accountId as string;
    a = admin(A);
    pk = (await a.createProduct({ productName: "Meter" })).product!.productKey;
    for (let i = 1; i <= 10; i++) {
      const dn = `meter-${i}`;
      secrets.set(dn, (await a.registerDevice({ productKey: pk, deviceName: dn })).device!.deviceSecret);
    }
    // The product reaches B first, so that B knows the account (replicated directory) and holds the copy.
    await waitJob(a, (await a.createProductDistributeJob({ productKey: pk, targetInstanceId: B.id })).job!.jobId);
    b = admin(B);
  });
  after(async () => {
    a?.close();
    b?.close();
    await fed?.dispose();
    await nats?.dispose();
    receiver?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const signInAt = (m: FederationMember, dn: string) => connect(mqttPort(m), signIn(pk, dn, secrets.get(dn)!));
  const answer = async (m: FederationMember, dn: string): Promise<number> => (await bootstrap(m.daemon.addresses!.bootstrap, form(pk, dn))).json?.data?.resources?.mqtt?.port as number;
  const placementAt = async (c: AdminClient, dn: string) => (await c.queryDeviceDetail({ productKey: pk, deviceName: dn })).device!;
  /** A batch of the job (generation 1) delivered to B only now, as if it had been in flight during the abort. */
  const lateBatch = async (jobId: string, dn: string) => {
    const late = peerClientAs(fed.certDir, A, B);
    try {
      return await late.handoff({
        jobId,
        product: signedWireBundle(wireBundle({ productKey: pk, accountId, accountName: "acme", productName: "Meter", ownerInstanceId: A.id }), signingKeyOf(fed.certDir, A.id)),
        devices: [{ deviceName: dn, deviceSecret: secrets.get(dn)!, iotId: "x", generation: 1n, homeInstanceId: A.id, createTimeMs: 1n }],
        targetAccountId: accountId,
      });
    } finally {
      late.close();
    }
  };
  const restartB = async (): Promise<void> => {
    await B.daemon.start();
    b.close();
    b = admin(B);
  };

  it("cut-over: with the target down, devices in the job keep signing in and bootstrapping at their source; once the target accepts them, they are notified, cut, and sign in only at the target", async () => {
    // meter-1 keeps one session through the job; meter-8 signs in anew while the job waits.
    const online = await signInAt(A, "meter-1");
    await online.subscribeAsync(`/sys/${pk}/meter-1/thing/bootstrap/notify`);
    const notified = new Promise<string>((resolve) => online.on("message", (_t, payload) => resolve(payload.toString())));
    const closed = new Promise<void>((resolve) => online.once("close", () => resolve()));
    await B.daemon.kill();
    const job = (await a.createDeviceDistributeJob({ productKey: pk, targetInstanceId: B.id, deviceNames: ["meter-1", "meter-8"] })).job!;
    await waitFor("the job to find its target unreachable", async () => ((await a.queryDeviceDistributeJob({ jobId: job.jobId })).job!.message.includes("unreachable") ? true : undefined), 20000, 100);
    assert.equal((await placementAt(a, "meter-1")).placement, DevicePlacement.LEAVING);
    assert.equal(online.connected, true, "the connected session is not cut while the target is down");
    await online.publishAsync(`/sys/${pk}/meter-1/thing/event/property/post`, "{}");
    assert.equal(await refusalCode(signInAt(A, "meter-8")), 0, "a new sign-in at the source is accepted while its job waits");
    assert.equal(await answer(A, "meter-8"), mqttPort(A), "bootstrap answers the source");

    await restartB();
    assert.equal((await waitJob(a, job.jobId)).status, JobStatus.COMPLETED);
    assert.match(await withTimeout(notified, 10000, "the R7 notify"), /"method":"thing.bootstrap.notify"/, "R7 at cut-over");
    await withTimeout(closed, 10000, "the session to be cut");
    for (const dn of ["meter-1", "meter-8"]) {
      await waitFor(`${dn} signable at the target`, async () => ((await refusalCode(signInAt(B, dn))) === 0 ? true : undefined), 20000, 100);
      assert.equal(await refusalCode(signInAt(A, dn)), 5, `${dn}: the source refuses it now`);
      assert.equal(await answer(A, dn), mqttPort(B));
      await waitFor(`${dn}: every daemon answers the target`, async () => ((await answer(B, dn)) === mqttPort(B) ? true : undefined), 10000, 100);
    }
  });

  it("R6: a completed job cannot be aborted", async () => {
    const done = (await a.listDeviceDistributeJob({ status: JobStatus.COMPLETED })).jobs[0]!;
    await rejects(a.abortDeviceDistributeJob({ jobId: done.jobId }), grpc.status.FAILED_PRECONDITION, /^R6: job .* is completed: a completed distribution cannot be cancelled/);
  });

  it("abort with the target down waits for its fence; once it is back the devices come home, and the late batch is refused there", async () => {
    await B.daemon.kill();
    const job = (await a.createDeviceDistributeJob({ productKey: pk, targetInstanceId: B.id, deviceNames: ["meter-2", "meter-3"] })).job!;
    await waitFor("the devices leaving", async () => ((await placementAt(a, "meter-2")).placement === DevicePlacement.LEAVING ? true : undefined), 10000, 50);
    assert.equal(await refusalCode(signInAt(A, "meter-2")), 0, "usable at the source meanwhile");
    const r = await a.abortDeviceDistributeJob({ jobId: job.jobId, waitMs: 1500 });
    assert.notEqual(r.job!.status, JobStatus.ABORTED, "not released without the target's fence");
    assert.match(r.job!.message, /aborting/);
    await restartB();
    const aborted = await waitFor("the abort to settle", async () => {
      const j = (await a.queryDeviceDistributeJob({ jobId: job.jobId })).job!;
      return j.status === JobStatus.ABORTED ? j : undefined;
    }, 30000, 100);
    assert.equal(aborted.succeeded, 0);
    for (const dn of ["meter-2", "meter-3"]) {
      const d = await placementAt(a, dn);
      assert.equal(d.placement, DevicePlacement.HERE, dn);
      assert.equal(d.generation, 0n, `${dn} keeps its generation`);
    }
    const detail = await a.queryDeviceDistributeDetail({ jobId: job.jobId });
    assert.deepEqual(detail.results.map((x) => x.result), ["aborted", "aborted"]);
    // A batch of the job that arrives late (sent before the abort, delivered after) is refused: no second holder.
    const res = await lateBatch(job.jobId, "meter-2");
    assert.equal(res.outcomes[0]!.accepted, false);
    assert.equal(res.outcomes[0]!.errorCode, "ABORTED");
    await rejects(b.queryDeviceDetail({ productKey: pk, deviceName: "meter-2" }), grpc.status.NOT_FOUND, /does not exist/);
    assert.equal(await refusalCode(signInAt(A, "meter-2")), 0);
    assert.equal(await answer(B, "meter-2"), mqttPort(A));
  });

  it("forced abort with the target gone releases at once; the target back with the old batch loses (one holder, the source's answer everywhere)", async () => {
    await B.daemon.kill();
    const job = (await a.createDeviceDistributeJob({ productKey: pk, targetInstanceId: B.id, deviceNames: ["meter-4"] })).job!;
    await waitFor("the device leaving", async () => ((await placementAt(a, "meter-4")).placement === DevicePlacement.LEAVING ? true : undefined), 10000, 50);
    const t0 = Date.now();
    const r = await a.abortDeviceDistributeJob({ jobId: job.jobId, force: true });
    assert.ok(Date.now() - t0 < 5000, "released without waiting for the target");
    assert.equal(r.job!.status, JobStatus.ABORTED);
    assert.equal(r.returned, 1);
    const d = await placementAt(a, "meter-4");
    assert.equal(d.placement, DevicePlacement.HERE);
    assert.equal(d.generation, 2n, "released at a fencing generation above the job's");
    assert.equal(await refusalCode(signInAt(A, "meter-4")), 0);

    await restartB();
    // The job's batch arrives late at the target (it was never fenced there).
    // Whatever the target answers, it never lets the device sign in: its source never confirms the release.
    assert.equal((await lateBatch(job.jobId, "meter-4")).outcomes.length, 1);
    assert.equal(await refusalCode(signInAt(B, "meter-4")), 5, "the target never accepts a sign-in for it");
    await waitFor("the target to follow the source's newer route", async () => ((await answer(B, "meter-4")) === mqttPort(A) ? true : undefined), 20000, 100);
    assert.equal(await answer(A, "meter-4"), mqttPort(A));
    assert.equal(await refusalCode(signInAt(A, "meter-4")), 0, "one holder: the source");
  });

  it("a device back at an instance where it was before is inactive until it signs in, then online", async () => {
    const s1 = await signInAt(A, "meter-5");
    s1.end(true);
    await waitFor("meter-5 online once", async () => ((await placementAt(a, "meter-5")).activeTimeMs > 0n ? true : undefined), 10000, 50);
    assert.equal((await waitJob(a, (await a.createDeviceDistributeJob({ productKey: pk, targetInstanceId: B.id, deviceNames: ["meter-5"] })).job!.jobId)).status, JobStatus.COMPLETED);
    await waitFor("meter-5 signable at B", async () => ((await refusalCode(signInAt(B, "meter-5"))) === 0 ? true : undefined), 20000, 100);
    assert.equal((await waitJob(b, (await b.createDeviceDistributeJob({ productKey: pk, targetInstanceId: A.id, deviceNames: ["meter-5"] })).job!.jobId)).status, JobStatus.COMPLETED);
    const back = await waitFor("meter-5 back at A", async () => {
      const d = await placementAt(a, "meter-5");
      return d.placement === DevicePlacement.HERE ? d : undefined;
    }, 20000, 100);
    assert.equal(back.status, DeviceStatus.INACTIVE, "R8: inactive until its next connection");
    assert.equal(back.activeTimeMs, 0n, "its old activation time is gone");
    await waitFor("meter-5 signs in at A", async () => ((await refusalCode(signInAt(A, "meter-5"))) === 0 ? true : undefined), 20000, 100);
    await waitFor("meter-5 online at A", async () => ((await placementAt(a, "meter-5")).status === DeviceStatus.ONLINE || (await placementAt(a, "meter-5")).activeTimeMs > 0n ? true : undefined), 10000, 50);
  });

  it("SIGKILL of the target in the middle of an abort: after restarts the job is aborted, each device has one holder, and the job's batch is refused", async () => {
    await B.daemon.kill();
    const job = (await a.createDeviceDistributeJob({ productKey: pk, targetInstanceId: B.id, deviceNames: ["meter-9", "meter-10"] })).job!;
    await waitFor("the devices leaving", async () => ((await placementAt(a, "meter-9")).placement === DevicePlacement.LEAVING ? true : undefined), 10000, 50);
    assert.notEqual((await a.abortDeviceDistributeJob({ jobId: job.jobId, waitMs: 500 })).job!.status, JobStatus.ABORTED);
    // The target comes back, the source's fence reaches it (or is about to), and the target dies again.
    await B.daemon.start();
    await new Promise((r) => setTimeout(r, 300));
    await B.daemon.kill();
    await restartB();
    await waitFor("the abort to settle after the target's restarts", async () => ((await a.queryDeviceDistributeJob({ jobId: job.jobId })).job!.status === JobStatus.ABORTED ? true : undefined), 30000, 100);
    for (const dn of ["meter-9", "meter-10"]) {
      assert.equal((await placementAt(a, dn)).placement, DevicePlacement.HERE, dn);
      await rejects(b.queryDeviceDetail({ productKey: pk, deviceName: dn }), grpc.status.NOT_FOUND, /does not exist/);
      assert.equal((await lateBatch(job.jobId, dn)).outcomes[0]!.accepted, false, `${dn}: the late batch is refused`);
    }
  });

  it("job events: on NATS, and to a webhook signed (HMAC-SHA256), in order, retried after a 500", async () => {
    const nc = await connectNats({ servers: nats.url });
    const seen: { type: string; jobId: string }[] = [];
    const sub = nc.subscribe(`iotfed.jobs.${A.id}.>`, {
      callback: (_e, m) => {
        seen.push(JSON.parse(new TextDecoder().decode(m.data)) as { type: string; jobId: string });
      },
    });
    await nc.flush();
    const job = (await a.createDeviceDistributeJob({ productKey: pk, targetInstanceId: B.id, deviceNames: ["meter-8"] })).job!;
    await waitJob(a, job.jobId);
    const ofJob = (xs: readonly { type: string; jobId: string }[]) => xs.filter((e) => e.jobId === job.jobId).map((e) => e.type);
    await waitFor("the webhook to get the job's events", () => (ofJob(hooks.filter((h) => h.status === 204)).includes("job.completed") ? true : undefined), 20000, 100);
    assert.deepEqual(ofJob(hooks.filter((h) => h.status === 204)), ["job.created", "job.running", "job.progress", "job.completed"], "in order, once each");
    await waitFor("the NATS events", () => (ofJob(seen).includes("job.completed") ? true : undefined), 10000, 50);
    assert.deepEqual(ofJob(seen), ["job.created", "job.running", "job.progress", "job.completed"]);
    sub.unsubscribe();
    await nc.close();
    // The very first delivery was refused with a 500 and the same event came again.
    assert.equal(hooks[0]!.status, 500);
    assert.equal(hooks[1]!.id, hooks[0]!.id, "retried, not skipped");
    for (const h of hooks) {
      const want = "sha256=" + createHmac("sha256", webhookSecret).update(`${h.timestamp}.${h.body}`).digest("hex");
      assert.equal(h.signature, want, "signed with the shared secret");
      assert.ok(!h.body.includes(secrets.get("meter-8")!), "no DeviceSecret in an event");
    }
    const metrics = await A.daemon.metrics();
    assert.match(metrics, /iotfed_job_webhook_deliveries_total\{result="retried"\} [1-9]/);
    assert.match(metrics, /iotfed_job_events_total\{type="job.completed"\} [1-9]/);
  });

  it("SIGKILL of the source in the middle of an abort: after restarts the job is aborted and each device has one holder", async () => {
    await B.daemon.kill();
    const job = (await a.createDeviceDistributeJob({ productKey: pk, targetInstanceId: B.id, deviceNames: ["meter-6", "meter-7"] })).job!;
    await waitFor("the devices leaving", async () => ((await placementAt(a, "meter-6")).placement === DevicePlacement.LEAVING ? true : undefined), 10000, 50);
    const r = await a.abortDeviceDistributeJob({ jobId: job.jobId, waitMs: 500 });
    assert.notEqual(r.job!.status, JobStatus.ABORTED);
    await A.daemon.kill();
    await A.daemon.start();
    a.close();
    a = admin(A);
    await restartB();
    await waitFor("the abort to settle after the restarts", async () => ((await a.queryDeviceDistributeJob({ jobId: job.jobId })).job!.status === JobStatus.ABORTED ? true : undefined), 30000, 100);
    for (const dn of ["meter-6", "meter-7"]) {
      assert.equal((await placementAt(a, dn)).placement, DevicePlacement.HERE, dn);
      await rejects(b.queryDeviceDetail({ productKey: pk, deviceName: dn }), grpc.status.NOT_FOUND, /does not exist/);
    }
  });
});
