import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { DevicePlacement, JobStatus, ProductStatus, TopicOperation } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { writeFileSync, rmSync } from "node:fs";
import { bootstrap, startFederation, tempDir, waitFor, type AdminClient, type FederationMember } from "../support/daemon.js";
import { NatsServer } from "../support/nats.js";
import { peerClientAs, signedWireBundle, signingKeyOf, wireBundle } from "../support/peer.js";
import { join } from "node:path";
import { waitJob } from "../support/jobs.js";
import { rejects } from "../support/grpc.js";

type Fed = Awaited<ReturnType<typeof startFederation>>;

/**
 * Three daemons, three accounts, one NATS: the account directory across
 * regions, cross-account distribution with authorization codes (R4, R5),
 * device grants (R12, R14-R18), the public pool (R17) and the audit log.
 * A (cn-shanghai) and C (us-west-1) are legacy public instances; B
 * (eu-central-1) is a public one.
 */
describe("cross-account distribution, grants, the public pool and the audit log", function () {
  this.timeout(180000);
  let nats: NatsServer;
  let fed: Fed;
  let A: FederationMember, B: FederationMember, C: FederationMember;
  type Who = "alice" | "bob" | "carol" | "dave";
  const ids: Record<Who, string> = { alice: "", bob: "", carol: "", dave: "" };
  const tokens: Record<string, string> = {};
  const clients: AdminClient[] = [];
  let nc: NatsConnection;
  /** An account's own token at a daemon (its operator enabled it there). */
  const as = (who: Who, m: FederationMember): AdminClient => {
    const c = m.daemon.adminWithToken(tokens[`${who}@${m.id}`]!);
    clients.push(c);
    return c;
  };
  const enable = async (who: Who, m: FederationMember): Promise<void> => {
    tokens[`${who}@${m.id}`] = (await m.daemon.ctlJson(["account", "token", "create", ids[who], "-d", "tests"])).secret;
  };
  /** The newest usable code the account received at the daemon. */
  const codeAt = async (c: AdminClient): Promise<string> => {
    const live = (await c.listAuthCodes({})).codes.find((x) => x.state === "live");
    assert.ok(live !== undefined, "no live code");
    assert.match(live.code, /^[0-9]{6}$/);
    return live.code;
  };
  const wrong = (code: string): string => String((Number(code) + 1) % 1_000_000).padStart(6, "0");

  let pk: string; // alice's product at A, distributed cross-account
  let usedCode = ""; // the code the full flow used
  let gpk: string; // alice's published product at A, granted (never distributed)
  const NAMES = ["x-meter-1", "x-meter-2", "x-meter-3"];

  /** B's authorization-code clock: milliseconds added to its time (IOTFED_CLOCK_OFFSET_FILE). */
  const clockDir = tempDir("iotfed-clock-");
  const clockFile = join(clockDir, "offset-ms");
  before(async () => {
    writeFileSync(clockFile, "0");
    nats = await NatsServer.start();
    fed = await startFederation(3, {
      regions: ["cn-shanghai", "eu-central-1", "us-west-1"],
      kinds: ["legacy-public", "public", "legacy-public"],
      config: { replication: { servers: [nats.url], staleAfterMs: 1000 } },
      peer: { retryWindowMs: 5000 },
      envFor: (i) => (i === 1 ? { IOTFED_CLOCK_OFFSET_FILE: clockFile } : {}),
      configFor: (i) => (i === 1 ? { testHooks: true } : {}),
    });
    [A, B, C] = fed.members as [FederationMember, FederationMember, FederationMember];
    // Accounts are created at different daemons; the directory brings each everywhere.
    ids.alice = (await A.daemon.ctlJson(["account", "create", "alice"])).account.accountId;
    ids.bob = (await B.daemon.ctlJson(["account", "create", "bob"])).account.accountId;
    ids.carol = (await A.daemon.ctlJson(["account", "create", "carol"])).account.accountId;
    ids.dave = (await C.daemon.ctlJson(["account", "create", "dave"])).account.accountId;
    const t0 = Date.now();
    for (const m of [A, B, C]) {
      await waitFor(`the account directory at ${m.id}`, async () => {
        const names = (await m.daemon.ctlJson(["account", "list", "--all"])).accounts.map((a: { accountName: string }) => a.accountName);
        return ["alice", "bob", "carol", "dave"].every((n) => names.includes(n)) || undefined;
      }, 20000, 100);
    }
    console.log(`      (the account directory converged at 3 daemons ${Date.now() - t0} ms after the last create)`);
    for (const who of ["alice", "bob", "carol", "dave"] as const) await enable(who, A);
    for (const who of ["alice", "bob"] as const) await enable(who, B);
    nc = await connect({ servers: nats.url });

    const alice = as("alice", A);
    pk = (await alice.createProduct({ productName: "XMeter" })).product!.productKey;
    await alice.createProductTopic({ productKey: pk, topicShortName: "update", operation: TopicOperation.PUB });
    const reg = await alice.batchRegisterDevice({ productKey: pk, deviceNames: NAMES });
    assert.equal(reg.successCount, NAMES.length, JSON.stringify(reg, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v)));
    gpk = (await alice.createProduct({ productName: "Granted" })).product!.productKey;
    await alice.createProductTopic({ productKey: gpk, topicShortName: "telemetry", operation: TopicOperation.PUB });
    await alice.importThingModelTsl({ productKey: gpk, tslJson: '{"properties":[{"identifier":"t","name":"T","accessMode":"r","dataType":{"type":"double","specs":{}}}]}' });
    assert.equal((await alice.batchRegisterDevice({ productKey: gpk, deviceNames: ["gd-1", "gd-2", "gd-3"] })).successCount, 3);
  });
  after(async () => {
    for (const c of clients) c.close();
    await nc?.close();
    await fed?.dispose();
    await nats?.dispose();
    rmSync(clockDir, { recursive: true, force: true });
  });

  it("accounts: one directory in every region (same id and name, no tokens); a token works only where the operator enabled the account", async () => {
    for (const m of [A, B, C]) {
      const list = (await m.daemon.ctlJson(["account", "list", "--all"])).accounts as { accountId: string; accountName: string }[];
      for (const who of ["alice", "bob", "carol", "dave"] as const) assert.equal(list.find((a) => a.accountName === who)?.accountId, ids[who], `${who} at ${m.id}`);
    }
    // alice was enabled at A and B, not at C
    const atC = C.daemon.adminWithToken(tokens[`alice@${A.id}`]!);
    clients.push(atC);
    await rejects(atC.whoAmI({}), grpc.status.UNAUTHENTICATED, /unknown or revoked token/);
    const mine = await as("alice", B).whoAmI({});
    assert.equal(mine.accountId, ids.alice);
  });

  it("R4: the full flow — a code issued at the target, read only by the target account, used once by the source; the receiver owns a read-only copy (R9) and distributes back with a code of the next owner", async () => {
    const alice = as("alice", A);
    const bobB = as("bob", B);
    const aliceB = as("alice", B);
    const sub: Subscription = nc.subscribe(`iotfed.account.${ids.bob}.authcode`, { max: 1 });
    const eventP = (async () => {
      for await (const m of sub) return JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>;
      return undefined;
    })();
    const req = await alice.requestAuthCode({ targetAccountName: "bob", targetRegionId: B.region, targetInstanceId: B.id });
    assert.equal(req.targetAccountId, ids.bob);
    assert.equal(req.targetInstanceId, B.id);
    assert.ok(Number(req.expireTimeMs) - Date.now() <= 5 * 60 * 1000 && Number(req.expireTimeMs) - Date.now() > 4 * 60 * 1000);
    // the code is at B for bob only
    const code = await codeAt(bobB);
    // the CLI shows bob the same code
    const viaCli = await B.daemon.ctlJson(["authcode", "list"], { token: tokens[`bob@${B.id}`]! });
    assert.equal(viaCli.codes[0].code, code);
    assert.equal(viaCli.codes[0].requesterAccountName, "alice");
    assert.ok(!JSON.stringify(req, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v)).includes(code), "the requester never sees the code");
    assert.deepEqual((await aliceB.listAuthCodes({})).codes, [], "the requester lists no code at the target");
    assert.deepEqual((await as("bob", A).listAuthCodes({})).codes, [], "the code lives at the target instance only");
    // the integration event reached bob's subject, without the digits (eventsIncludeCode: false)
    const ev = await Promise.race([eventP, new Promise<undefined>((r) => setTimeout(() => r(undefined), 10000))]);
    assert.ok(ev !== undefined, "no authcode event on the account's subject");
    assert.equal(ev.codeId, req.codeId);
    assert.equal(ev.requesterAccountName, "alice");
    assert.equal(ev.code, undefined);

    const t1 = Date.now();
    const job = (await alice.createDeviceDistributeJob({ productKey: pk, targetRegionId: B.region, targetInstanceId: B.id, deviceNames: NAMES, targetAccountId: ids.bob, authCode: code })).job!;
    const created = Date.now() - t1;
    assert.equal(job.targetAccountId, ids.bob);
    const done = await waitJob(() => alice, job.jobId);
    assert.equal(done.status, JobStatus.COMPLETED, done.message);
    assert.equal(done.succeeded, NAMES.length);
    console.log(`      (job created, code redeemed at the target, in ${created} ms; completed ${Date.now() - t1} ms after the call)`);

    // R9 at the receiver: bob owns a read-only copy
    const copy = (await bobB.queryProduct({ productKey: pk })).product!;
    assert.equal(copy.accountId, ids.bob);
    assert.equal(copy.ownerInstanceId, A.id);
    await rejects(bobB.updateProduct({ productKey: pk, productName: "Mine" }), grpc.status.FAILED_PRECONDITION, /^R9: /);
    await rejects(bobB.registerDevice({ productKey: pk, deviceName: "new-one" }), grpc.status.FAILED_PRECONDITION, /^R9: /);
    await rejects(bobB.deleteDevice({ productKey: pk, deviceName: NAMES[0]! }), grpc.status.FAILED_PRECONDITION, /^R11: /);
    assert.equal((await bobB.queryDevice({ productKey: pk })).devices.length, NAMES.length);
    // alice does not own anything at B
    await rejects(aliceB.queryProduct({ productKey: pk }), grpc.status.NOT_FOUND, /does not exist/);
    const boot = await bootstrap(A.daemon.addresses!.bootstrap, `productKey=${pk}&deviceName=${NAMES[0]}`);
    assert.equal(boot.json?.data?.resources?.mqtt?.host, B.mqtt.host);

    usedCode = code;

    // bob distributes one device back to alice with a code alice got at A
    await as("bob", B).requestAuthCode({ targetAccountId: ids.alice, targetRegionId: A.region, targetInstanceId: A.id });
    const back = await codeAt(alice);
    const job2 = (await bobB.createDeviceDistributeJob({ productKey: pk, targetInstanceId: A.id, deviceNames: [NAMES[0]!], targetAccountId: ids.alice, authCode: back })).job!;
    const done2 = await waitJob(() => bobB, job2.jobId);
    assert.equal(done2.status, JobStatus.COMPLETED, done2.message);
    assert.equal(done2.succeeded, 1);
    // the product's home takes no copy of its own product
    assert.deepEqual((await bobB.listDistributedProduct({})).products.filter((x) => x.targetInstanceId === A.id), []);
    const d = (await alice.queryDeviceDetail({ productKey: pk, deviceName: NAMES[0]! })).device!;
    assert.equal(d.placement, DevicePlacement.HERE);
    assert.equal(d.generation, 2n, "registered at 0, to B at 1, back at 2");
    await waitFor("the route back at A", async () => {
      const r = await bootstrap(C.daemon.addresses!.bootstrap, `productKey=${pk}&deviceName=${NAMES[0]}`);
      return r.json?.data?.resources?.mqtt?.host === A.mqtt.host || undefined;
    }, 20000, 100);

    // the audit log at each end, for the accounts concerned
    const atA = (await alice.listAuditEvents({})).events.map((e) => `${e.action}:${e.result}`);
    for (const a of ["authcode.requested:ok", "job.created:ok", "authcode.issued:ok", "authcode.used:ok", "handoff.received:ok"]) assert.ok(atA.includes(a), `${a} in alice's log at A: ${atA.join(", ")}`);
    const requested = (await alice.listAuditEvents({ action: "authcode.requested" })).events[0]!;
    assert.equal(requested.actorKind, "account");
    assert.equal(requested.actorAccountId, ids.alice);
    assert.match(requested.actorAddress, /127\.0\.0\.1/, "from which address");
    assert.ok(Math.abs(Number(requested.timeMs) - Date.now()) < 60000, "when");
    const atB = (await bobB.listAuditEvents({})).events;
    const issued = atB.find((e) => e.action === "authcode.issued" && e.subjectId === req.codeId);
    assert.ok(issued !== undefined);
    assert.equal(issued.accountId, ids.alice);
    assert.equal(issued.otherAccountId, ids.bob);
    assert.match(issued.actorAddress, new RegExp(`^${A.id} `), "who asked, from where");
    assert.ok(atB.some((e) => e.action === "authcode.used" && e.productKey === pk));
    assert.ok(atB.some((e) => e.action === "handoff.received" && e.subjectId === job.jobId));
    assert.deepEqual((await as("carol", A).listAuditEvents({})).events, [], "carol is concerned by nothing");
    const all = (await A.daemon.admin().listAuditEvents({ pageSize: 1000 })).events;
    assert.ok(all.length >= atA.length, "the operator reads every event");
    for (const e of [...all, ...atB]) assert.ok(!e.detail.includes(code) && !e.detail.includes(back), "no code in the audit log");
  });

  it("R4, R6: the receiving account distributes onward to a third account, naming only the target region (its legacy public instance)", async () => {
    await enable("dave", C);
    const bobB = as("bob", B);
    const r = await bobB.requestAuthCode({ targetAccountName: "dave", targetRegionId: C.region });
    assert.equal(r.targetInstanceId, C.id, "the empty instance is the region's legacy public instance");
    const dave = as("dave", C);
    const code = await codeAt(dave);
    const job = (await bobB.createDeviceDistributeJob({ productKey: pk, targetRegionId: C.region, deviceNames: [NAMES[1]!], targetAccountId: ids.dave, authCode: code })).job!;
    assert.equal(job.targetInstanceId, C.id);
    const done = await waitJob(() => bobB, job.jobId);
    assert.equal(done.status, JobStatus.COMPLETED, done.message);
    assert.equal(done.succeeded, 1);
    const copy = (await dave.queryProduct({ productKey: pk })).product!;
    assert.equal(copy.accountId, ids.dave);
    assert.equal(copy.ownerInstanceId, A.id, "the owner is still alice's instance");
    assert.equal((await dave.queryDeviceDetail({ productKey: pk, deviceName: NAMES[1]! })).device!.generation, 2n);
    await rejects(dave.updateProduct({ productKey: pk, description: "mine" }), grpc.status.FAILED_PRECONDITION, /^R9: /);
    // bob keeps the others; alice's instance routes the device to C
    await waitFor("the onward route at A", async () => {
      const b = await bootstrap(A.daemon.addresses!.bootstrap, `productKey=${pk}&deviceName=${NAMES[1]}`);
      return b.json?.data?.resources?.mqtt?.host === C.mqtt.host || undefined;
    }, 20000, 100);
  });

  it("R4: a used code is refused for any other job", async () => {
    assert.match(usedCode, /^[0-9]{6}$/);
    await rejects(
      as("alice", A).createDeviceDistributeJob({ productKey: pk, targetInstanceId: B.id, deviceNames: [NAMES[1]!], targetAccountId: ids.bob, authCode: usedCode }),
      grpc.status.FAILED_PRECONDITION,
      /^R4: the authorization code was already used \(job job_[A-Za-z0-9]+\); ask for a new one/,
    );
    const refused = (await as("alice", A).listAuditEvents({ action: "job.created" })).events.find((e) => e.result === "refused");
    assert.match(refused?.detail ?? "", /^R4: the authorization code was already used/, "the refusal is in the source's audit log");
  });

  it("R4: a cross-account job without a code is refused, naming auth_code", async () => {
    await rejects(
      as("alice", A).createDeviceDistributeJob({ productKey: pk, targetInstanceId: B.id, deviceNames: [NAMES[1]!], targetAccountId: ids.bob }),
      grpc.status.INVALID_ARGUMENT,
      /^auth_code: is required for cross-account distribution.*\(R4\)/,
    );
  });

  it("R4: a wrong code is refused and counted; after 5 wrong tries the code is void, the right one included", async () => {
    const alice = as("alice", A);
    await alice.requestAuthCode({ targetAccountId: ids.bob, targetRegionId: B.region, targetInstanceId: B.id });
    const code = await codeAt(as("bob", B));
    const job = (n: string) => alice.createProductDistributeJob({ productKey: gpk, targetInstanceId: B.id, targetAccountId: ids.bob, authCode: n });
    for (let i = 4; i >= 1; i--) await rejects(job(wrong(code)), grpc.status.FAILED_PRECONDITION, new RegExp(`^R4: wrong authorization code \\(${i} tries left\\)`));
    await rejects(job(wrong(code)), grpc.status.FAILED_PRECONDITION, /^R4: wrong authorization code; it is now void after 5 wrong tries/);
    await rejects(job(code), grpc.status.FAILED_PRECONDITION, /^R4: the authorization code is void after 5 wrong tries/);
    const listed = (await as("bob", B).listAuthCodes({})).codes[0]!;
    assert.equal(listed.state, "void");
    assert.equal(listed.failedTries, 5);
    assert.equal(listed.code, "");
    const refused = (await as("bob", B).listAuditEvents({ action: "authcode.refused" })).events;
    assert.ok(refused.length >= 6);
  });

  it("R4: a code older than 5 minutes is refused (the target's clock is moved, not slept)", async () => {
    const alice = as("alice", A);
    await alice.requestAuthCode({ targetAccountId: ids.bob, targetRegionId: B.region, targetInstanceId: B.id });
    const code = await codeAt(as("bob", B));
    try {
      writeFileSync(clockFile, String(5 * 60 * 1000 + 1000)); // B's clock: 5 minutes and 1 second later
      await rejects(
        alice.createProductDistributeJob({ productKey: gpk, targetInstanceId: B.id, targetAccountId: ids.bob, authCode: code }),
        grpc.status.FAILED_PRECONDITION,
        /^R4: the authorization code expired at .* \(valid 5 minutes\)/,
      );
      const listed = (await as("bob", B).listAuthCodes({})).codes[0]!;
      assert.equal(listed.state, "expired");
      assert.equal(listed.code, "", "an expired code is not shown");
    } finally {
      writeFileSync(clockFile, "0 ");
    }
  });

  it("R4: the nearest strategy is refused across accounts", async () => {
    await rejects(
      as("alice", A).createDeviceDistributeJob({ productKey: pk, strategy: "nearest", candidates: [{ regionId: B.region, instanceId: B.id }], deviceNames: [NAMES[1]!], targetAccountId: ids.bob, authCode: "123456" }),
      grpc.status.FAILED_PRECONDITION,
      /^R4: /,
    );
  });

  it("R4: the target instance may be omitted only for the target region's legacy public instance", async () => {
    const alice = as("alice", A);
    await rejects(
      alice.requestAuthCode({ targetAccountId: ids.dave, targetRegionId: B.region }),
      grpc.status.FAILED_PRECONDITION,
      /^R4: target_instance_id may be empty only when the target is the legacy public instance of region eu-central-1/,
    );
    await rejects(
      alice.createDeviceDistributeJob({ productKey: pk, targetRegionId: B.region, deviceNames: [NAMES[1]!], targetAccountId: ids.bob, authCode: "123456" }),
      grpc.status.FAILED_PRECONDITION,
      /^R4: target_instance_id may be empty/,
    );
    // us-west-1's legacy public instance is C: the empty instance resolves to it
    const r = await alice.requestAuthCode({ targetAccountId: ids.dave, targetRegionId: C.region });
    assert.equal(r.targetInstanceId, C.id);
  });

  it("R5: cross-account distribution inside one region's legacy public instance is refused", async () => {
    const alice = as("alice", A);
    await rejects(alice.requestAuthCode({ targetAccountId: ids.carol, targetRegionId: A.region }), grpc.status.FAILED_PRECONDITION, /^R5: cross-account distribution inside the legacy public instance/);
    await rejects(
      alice.createDeviceDistributeJob({ productKey: pk, targetRegionId: A.region, targetInstanceId: A.id, deviceNames: [NAMES[1]!], targetAccountId: ids.carol, authCode: "123456" }),
      grpc.status.FAILED_PRECONDITION,
      /^R5: /,
    );
  });

  it("R4: the target refuses a handoff to another account whose job redeemed no code there", async () => {
    // A's own peer identity (its certificate), calling B directly as a
    // daemon that skipped the code would: B checks the job's redemption.
    const peer = peerClientAs(fed.certDir, A, B);
    try {
      const product = signedWireBundle(wireBundle({ productKey: gpk, accountId: ids.alice, accountName: "alice", productName: "Granted", ownerInstanceId: A.id }), signingKeyOf(fed.certDir, A.id));
      await rejects(
        peer.handoff({ jobId: "job_forgedNoCode0001", sourceRegionId: A.region, product, devices: [], targetAccountId: ids.bob, strategy: "specified" }),
        grpc.status.PERMISSION_DENIED,
        /^R4: cross-account job job_forgedNoCode0001 from .* redeemed no authorization code of account \d+ here/,
      );
      await rejects(as("bob", B).queryProduct({ productKey: gpk }), grpc.status.NOT_FOUND, /does not exist/);
      // the same job with a code redeemed by another job is refused too
      const used = (await as("bob", B).listAuthCodes({})).codes.find((c) => c.state === "used")!;
      await rejects(
        peer.handoff({ jobId: `${used.usedByJobId}x`, sourceRegionId: A.region, product, devices: [], targetAccountId: ids.bob, strategy: "specified" }),
        grpc.status.PERMISSION_DENIED,
        /^R4: /,
      );
    } finally {
      peer.close();
    }
  });

  describe("grants (R12, R14-R18) and the public pool (R17)", () => {
    let grantIds: { device: string; product: string };
    let secret: string;

    it("R14: only devices of a published product can be granted", async () => {
      await rejects(as("alice", A).grantDevice({ productKey: gpk, deviceName: "gd-1", granteeAccountName: "carol" }), grpc.status.FAILED_PRECONDITION, /^R14: product .* is developing/);
      const audit = (await as("carol", A).listAuditEvents({ action: "grant.created" })).events;
      assert.equal(audit[0]?.result, "refused", "the refused grant is in the log of both accounts");
    });

    it("R18: grants exist only on the configured instance kinds (legacy public by default): B refuses", async () => {
      const bob = as("bob", B);
      const p = (await bob.createProduct({ productName: "BobThing" })).product!.productKey;
      await bob.releaseProduct({ productKey: p });
      await bob.registerDevice({ productKey: p, deviceName: "bd-1" });
      await rejects(bob.grantDevice({ productKey: p, deviceName: "bd-1", granteeAccountId: ids.alice }), grpc.status.FAILED_PRECONDITION, /^R18: grants are not allowed on public instance/);
    });

    it("grant: alice grants gd-1 of a published product to carol by name; the grant is listed on both sides", async () => {
      const alice = as("alice", A);
      const rel = await alice.releaseProduct({ productKey: gpk });
      assert.equal(rel.product!.status, ProductStatus.PUBLISHED);
      secret = (await alice.queryDeviceDetail({ productKey: gpk, deviceName: "gd-1", includeSecret: true })).device!.deviceSecret;
      const g = await alice.grantDevice({ productKey: gpk, deviceName: "gd-1", granteeAccountName: "carol" });
      grantIds = { device: g.deviceGrant!.grantId, product: g.productGrant!.grantId };
      assert.equal(g.deviceGrant!.granteeAccountId, ids.carol);
      const given = (await alice.listGrants({})).grants.map((x) => x.grantId).sort();
      assert.deepEqual(given, [grantIds.device, grantIds.product].sort());
      const received = (await as("carol", A).listGrants({ side: "received" })).grants.map((x) => x.grantId).sort();
      assert.deepEqual(received, given);
      assert.deepEqual((await as("dave", A).listGrants({ side: "received" })).grants, []);
    });

    it("R15: the grantee sees the device and its product, never the DeviceSecret, and changes nothing", async () => {
      const carol = as("carol", A);
      const seen: unknown[] = [];
      const keep = <T>(v: T): T => (seen.push(v), v);
      assert.equal(keep(await carol.queryProduct({ productKey: gpk })).product!.productKey, gpk);
      assert.equal(keep(await carol.queryProductTopic({ productKey: gpk })).topics.length, 1);
      assert.match(keep(await carol.getThingModelTsl({ productKey: gpk })).tslJson, /"identifier":"t"/);
      const dev = keep(await carol.queryDeviceDetail({ productKey: gpk, deviceName: "gd-1" })).device!;
      assert.equal(dev.deviceSecret, "");
      const byId = keep(await carol.queryDeviceDetail({ iotId: dev.iotId })).device!;
      assert.equal(byId.deviceName, "gd-1");
      assert.deepEqual(keep(await carol.queryDevice({ productKey: gpk })).devices.map((d) => d.deviceName), ["gd-1"], "only granted devices are listed");
      keep(await carol.queryDeviceProp({ productKey: gpk, deviceName: "gd-1" }));
      keep(await carol.getDeviceShadow({ productKey: gpk, deviceName: "gd-1" }));
      keep(await carol.queryDeviceProvisioning({ productKey: gpk, deviceName: "gd-1" }));
      keep(await carol.listGrants({ side: "received" }));
      const json = JSON.stringify(seen, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v));
      assert.ok(!json.includes(secret), "a DeviceSecret reached the grantee");
      // the CLI's JSON and CSV as the grantee
      const tok = { token: tokens[`carol@${A.id}`]! };
      const csv = await A.daemon.ctl(["device", "list", gpk, "--csv"], tok);
      assert.equal(csv.code, 0, csv.stderr);
      assert.match(csv.stdout, /^productKey,deviceName,status,iotId,createTime,lastOnlineTime\n/);
      assert.match(csv.stdout, /gd-1/);
      const cli = await A.daemon.ctl(["--json", "device", "get", gpk, "gd-1"], tok);
      for (const out of [csv.stdout, cli.stdout, csv.stderr, cli.stderr]) assert.ok(!out.includes(secret), "a DeviceSecret in the CLI's output");

      await rejects(carol.queryDeviceDetail({ productKey: gpk, deviceName: "gd-1", includeSecret: true }), grpc.status.PERMISSION_DENIED, /^R15: .*not read its DeviceSecret/);
      const secretCli = await A.daemon.ctl(["device", "get", gpk, "gd-1", "--secret"], tok);
      assert.notEqual(secretCli.code, 0);
      assert.ok(!secretCli.stdout.includes(secret) && !secretCli.stderr.includes(secret));
      await rejects(carol.queryDeviceDetail({ productKey: gpk, deviceName: "gd-2" }), grpc.status.NOT_FOUND, /does not exist/);
      for (const [what, call] of [
        ["delete", carol.deleteDevice({ productKey: gpk, deviceName: "gd-1" })],
        ["disable", carol.disableThing({ productKey: gpk, deviceName: "gd-1" })],
        ["update", carol.updateProduct({ productKey: gpk, productName: "Carol's" })],
        ["topic", carol.createProductTopic({ productKey: gpk, topicShortName: "mine", operation: TopicOperation.SUB })],
        ["shadow", carol.updateDeviceShadow({ productKey: gpk, deviceName: "gd-1", shadowJson: "{}" })],
        ["register", carol.registerDevice({ productKey: gpk, deviceName: "gd-9" })],
        ["distribute", carol.createDeviceDistributeJob({ productKey: gpk, targetInstanceId: B.id, deviceNames: ["gd-1"] })],
        ["re-grant", carol.grantDevice({ productKey: gpk, deviceName: "gd-1", granteeAccountId: ids.dave })],
        ["revoke", carol.revokeGrant({ grantId: grantIds.device })],
        ["pool", carol.addProductToPool({ productKey: gpk, confirmIrreversible: true })],
      ] as const) {
        await rejects(call, grpc.status.PERMISSION_DENIED, /^R15: /).catch((e: Error) => assert.fail(`${what}: ${e.message}`));
      }
      assert.equal((await as("alice", A).queryDeviceDetail({ productKey: gpk, deviceName: "gd-1" })).device!.deviceName, "gd-1", "the device is untouched");
    });

    it("R12: a granted product cannot be distributed; the refusal names the grant", async () => {
      await rejects(
        as("alice", A).createDeviceDistributeJob({ productKey: gpk, targetInstanceId: B.id, deviceNames: ["gd-2"] }),
        grpc.status.FAILED_PRECONDITION,
        new RegExp(`^R12: product ${gpk} cannot be distributed while it has grants: device ${gpk}/gd-1 is granted to account ${ids.carol} \\(grant ${grantIds.device}\\)`),
      );
      await rejects(as("alice", A).createProductDistributeJob({ productKey: gpk, targetInstanceId: B.id }), grpc.status.FAILED_PRECONDITION, /^R12: /);
    });

    it("R12: a distributed product or device cannot be granted; the refusal names the job or instance", async () => {
      const alice = as("alice", A);
      // pk went to B (and partly back): it is distributed
      const lastJob = (await alice.listDeviceDistributeJob({ productKey: pk })).jobs[0]!;
      await alice.releaseProduct({ productKey: pk });
      await rejects(
        alice.grantDevice({ productKey: pk, deviceName: NAMES[0]!, granteeAccountId: ids.carol }),
        grpc.status.FAILED_PRECONDITION,
        new RegExp(`^R12: device ${pk}/${NAMES[0]} was distributed to eu-central-1/${B.id} by job ${lastJob.jobId}: distribution and grants exclude each other`),
      );
    });

    it("R17: the public pool — irreversible with an explicit confirmation, published products only, replicated everywhere, open to accounts granted a device by another", async () => {
      const alice = as("alice", A);
      await rejects(alice.addProductToPool({ productKey: gpk }), grpc.status.INVALID_ARGUMENT, /^confirm_irreversible: must be true/);
      const dev = (await alice.createProduct({ productName: "Draft" })).product!.productKey;
      await rejects(alice.addProductToPool({ productKey: dev, confirmIrreversible: true }), grpc.status.FAILED_PRECONDITION, /^R17: product .* is developing/);
      const cli = await A.daemon.ctl(["pool", "add", gpk], { token: tokens[`alice@${A.id}`]! });
      assert.equal(cli.code, 2, "the CLI wants --yes-irreversible");
      const added = await A.daemon.ctl(["pool", "add", gpk, "--yes-irreversible"], { token: tokens[`alice@${A.id}`]! });
      assert.equal(added.code, 0, added.stderr);
      // replicated to every daemon
      for (const m of [B, C]) {
        await waitFor(`the pool at ${m.id}`, async () => ((await m.daemon.admin().listPoolProducts({})).products.some((p) => p.productKey === gpk) ? true : undefined), 20000, 100);
      }
      // carol was granted a device by alice here: she views the pool, read-only, with topics and thing model
      const entry = (await as("carol", A).queryPoolProduct({ productKey: gpk })).product!;
      assert.equal(entry.accountName, "alice");
      assert.equal(entry.topics.length, 1);
      assert.match(entry.tslJson, /"identifier":"t"/);
      assert.ok((await as("carol", A).listPoolProducts({})).products.some((p) => p.productKey === gpk));
      // dave and bob were granted nothing: a clear refusal
      await rejects(as("dave", A).listPoolProducts({}), grpc.status.PERMISSION_DENIED, /^R17: account \d+ cannot view the public pool yet/);
      await rejects(as("bob", B).queryPoolProduct({ productKey: gpk }), grpc.status.PERMISSION_DENIED, /^R17: /);
      // irreversible: the product cannot be deleted while in the pool
      await rejects(alice.deleteProduct({ productKey: gpk }), grpc.status.FAILED_PRECONDITION, /^R17: /);
      // a change at the home reaches the pool entry everywhere
      await alice.updateProduct({ productKey: gpk, description: "now with a description" });
      await waitFor("the pool entry's new version at C", async () => ((await C.daemon.admin().queryPoolProduct({ productKey: gpk })).product!.description === "now with a description" ? true : undefined), 20000, 100);
      assert.ok((await alice.listAuditEvents({ action: "pool.added" })).events.some((e) => e.result === "ok" && e.productKey === gpk));
    });

    it("R16: a product grant is revoked only after its device grants; then the grantee sees nothing", async () => {
      const alice = as("alice", A);
      await rejects(alice.revokeGrant({ grantId: grantIds.product }), grpc.status.FAILED_PRECONDITION, /^R16: .*device gd-1 is still granted/);
      await alice.revokeGrant({ grantId: grantIds.device });
      await rejects(as("carol", A).queryDeviceDetail({ productKey: gpk, deviceName: "gd-1" }), grpc.status.NOT_FOUND, /does not exist/);
      await alice.revokeGrant({ grantId: grantIds.product });
      await rejects(as("carol", A).queryProduct({ productKey: gpk }), grpc.status.NOT_FOUND, /does not exist/);
      await rejects(as("carol", A).listPoolProducts({}), grpc.status.PERMISSION_DENIED, /^R17: /);
      const log = (await as("carol", A).listAuditEvents({ action: "grant.revoked" })).events.map((e) => e.result).sort();
      assert.deepEqual(log, ["ok", "ok", "refused"]);
      // The owner deletes a granted device and then its product: the grants go with them.
      const tmp = (await alice.createProduct({ productName: "ShortLived" })).product!.productKey;
      await alice.releaseProduct({ productKey: tmp });
      await alice.registerDevice({ productKey: tmp, deviceName: "temp-1" });
      await alice.grantDevice({ productKey: tmp, deviceName: "temp-1", granteeAccountId: ids.dave });
      await alice.deleteDevice({ productKey: tmp, deviceName: "temp-1" });
      await alice.deleteProduct({ productKey: tmp });
      assert.deepEqual((await as("dave", A).listGrants({ side: "received" })).grants, []);
    });
  });
});
