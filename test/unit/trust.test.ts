import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { makeCerts } from "../support/daemon.js";
import { openTestStore, type TestStore } from "../support/store.js";
import { createRecordGate, keyOf, openRecord, RecordError, sealRecord, type RecordGate } from "../../internal/replication/index.js";
import type { DeviceRoute, ProductBundle, RouteChange } from "../../internal/domain/index.js";
import {
  checkBundle,
  createMembers,
  createVerifyPool,
  fingerprintOf,
  judge,
  leafHash,
  merkleTree,
  parseRevocations,
  releaseProofs,
  rootFromPath,
  signingKeyFrom,
  signBundle,
  signReleases,
  type Members,
  type SigningKey,
} from "../../internal/trust/index.js";

const PK = "a1B2c3D4e5F";

describe("trust: Merkle trees of releases (RFC 9162)", () => {
  it("every leaf's audit path leads to the root, for every tree size up to 40; a changed leaf or index does not", () => {
    for (let n = 1; n <= 40; n++) {
      const leaves = Array.from({ length: n }, (_, i) => Buffer.from(`leaf ${i}`));
      const { root, paths } = merkleTree(leaves);
      if (n === 1) assert.deepEqual(root, leafHash(leaves[0]!));
      if (n === 2) assert.deepEqual(root, createHash("sha256").update(Buffer.from([1])).update(leafHash(leaves[0]!)).update(leafHash(leaves[1]!)).digest());
      for (let i = 0; i < n; i++) {
        assert.deepEqual(rootFromPath(leaves[i]!, i, n, paths[i]!), root, `n=${n} i=${i}`);
        assert.notDeepEqual(rootFromPath(Buffer.from("other"), i, n, paths[i]!), root);
        if (n > 1) assert.notDeepEqual(rootFromPath(leaves[i]!, (i + 1) % n, n, paths[i]!), root, `n=${n} i=${i} moved`);
      }
    }
    assert.equal(rootFromPath(Buffer.from("x"), 3, 3, []), undefined, "index past the size");
  });
});

describe("trust: members, signatures and the record gate", function () {
  this.timeout(20000);
  let dir: string;
  let otherDir: string;
  let keys: Record<string, SigningKey>;
  let certs: ReturnType<typeof makeCerts>;
  let stranger: SigningKey;
  let store: TestStore;
  let members: Members;
  let gate: RecordGate;
  let required = true;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "iotfed-trust-"));
    otherDir = mkdtempSync(join(tmpdir(), "iotfed-trust-other-"));
    certs = makeCerts(dir, ["iot-a", "iot-b", "iot-c", "iot-d"]);
    keys = Object.fromEntries(["iot-a", "iot-b", "iot-c", "iot-d"].map((n) => [n, signingKeyFrom(n, readFileSync(certs.cert(n)), readFileSync(certs.key(n)))]));
    const other = makeCerts(otherDir, ["iot-b"]); // the same name from a CA that is not the federation's
    stranger = signingKeyFrom("iot-b", readFileSync(other.cert("iot-b")), readFileSync(other.key("iot-b")));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(otherDir, { recursive: true, force: true });
  });
  beforeEach(() => {
    required = true;
    store = openTestStore({ self: "iot-a" });
    members = createMembers({ caPem: readFileSync(certs.ca) });
    for (const n of ["iot-a", "iot-b", "iot-c"]) assert.deepEqual(members.admit(n, [keys[n]!.certificate]), { ok: true });
    const records = store.records;
    gate = createRecordGate({
      members,
      verifier: createVerifyPool(0),
      required: () => required,
      view: {
        self: "iot-a",
        device: (pk, dn) => records.deviceHead(pk, dn),
        productHome: (pk) => store.products.get(pk)?.ownerInstanceId ?? records.product(pk)?.home,
        accountHome: (id) => records.account(id)?.home,
        instanceVersion: (id) => records.instance(id)?.version ?? 0,
      },
    });
    // The product's home is iot-a.
    store.records.commitOne({ kind: "product", route: { productKey: PK, home: "iot-a", version: 1, deleted: false, candidates: [], accountId: "1234567890123456", productName: "lamp", nodeType: "device", status: "published", regionId: "cn-shanghai", committedBy: "iot-a", committedAt: 1 } });
  });
  afterEach(() => store.close());

  const device = (over: Partial<DeviceRoute> = {}): RouteChange => ({
    kind: "device",
    route: { productKey: PK, deviceName: "lamp-1", holder: "iot-b", generation: 1, nearest: false, committedBy: "iot-b", committedAt: 1, ...over },
  });
  /** The route of a device released by `from` to `to` at `generation`, as the receiver builds it at confirm. */
  const released = (from: string, to: string, generation: number, signer = keys[from]!, over: Partial<DeviceRoute> = {}, accepter?: SigningKey): RouteChange => {
    const batch = { productKey: PK, to, account: "1234567890123456", nearest: false };
    const sig = signReleases(signer, batch, [{ deviceName: "lamp-1", generation }]);
    const { proofs } = releaseProofs(from, batch, [{ deviceName: "lamp-1", generation }], sig, accepter);
    return device({ holder: to, generation, release: proofs[0]!, committedBy: to, ...over });
  };
  const check = async (c: RouteChange, key: SigningKey | undefined, revision = 1) => {
    const r = await gate.check([{ key: keyOf(c), revision, value: sealRecord(c, "committedBy" in c.route ? c.route.committedBy : "", key) }]);
    return { admitted: r.admitted.map((a) => a.unverified ?? "ok"), refused: r.refused.map((x) => x.reason), parked: r.parked.length };
  };

  it("a signed record opens with its signer; a changed byte, a trailing field or a signature not last is refused", () => {
    const c = released("iot-a", "iot-b", 1);
    const bytes = Buffer.from(sealRecord(c, "iot-b", keys["iot-b"]));
    const o = openRecord(keyOf(c), bytes);
    assert.equal(o.signature?.signer, "iot-b");
    assert.deepEqual(o.change.route, c.route);
    assert.throws(() => openRecord(keyOf(c), Buffer.concat([bytes, Buffer.from([0x50, 0x01])])), RecordError, "a field after the signature");
  });

  it("members: a certificate of the federation CA naming the instance; another CA, another name or a revoked one is not", () => {
    assert.equal(members.checkPeer("iot-b", keys["iot-b"]!.certificate).ok, true);
    assert.deepEqual(members.checkPeer("iot-b", stranger.certificate), { ok: false, reason: "bad_certificate", detail: "the certificate is not issued by the federation CA" });
    assert.equal((members.checkPeer("iot-c", keys["iot-b"]!.certificate) as { reason: string }).reason, "bad_certificate");
    members.setRevocations(parseRevocations(`# compromised\ninstance iot-c\nsha256 ${fingerprintOf(keys["iot-b"]!.certificate).toUpperCase().match(/../g)!.join(":")}\n`, "test"));
    assert.equal((members.checkPeer("iot-b", keys["iot-b"]!.certificate) as { reason: string }).reason, "revoked");
    assert.equal((members.checkPeer("iot-c", keys["iot-c"]!.certificate) as { reason: string }).reason, "revoked");
    assert.equal(members.key("iot-c", keys["iot-c"]!.keyId), undefined);
    assert.equal(members.isRevoked("iot-b"), true);
    assert.equal(members.checkPeer("iot-d", keys["iot-d"]!.certificate).ok, true);
    assert.throws(() => parseRevocations("instance", "f"), /f:1/);
    assert.throws(() => parseRevocations("sha256 abc", "f"), /64 hex/);
    assert.ok(new X509Certificate(keys["iot-d"]!.certificate).subject.includes("iot-d"));
  });

  it("unsigned records are refused when signatures are required, and while optional only from writers that do not sign", async () => {
    assert.deepEqual(await check(device({ committedBy: "iot-x" }), undefined), { admitted: [], refused: ["unsigned"], parked: 0 });
    required = false;
    assert.deepEqual(await check(device({ committedBy: "iot-x", deviceName: "lamp-2" }), undefined), { admitted: ["unsigned"], refused: [], parked: 0 });
    assert.deepEqual(await check(device({ committedBy: "iot-b", deviceName: "lamp-3" }), undefined), { admitted: [], refused: ["unsigned"], parked: 0 }, "iot-b signs: an unsigned record in its name is forged");
  });

  it("a device route: its holder signs, with the previous holder's release; a self-made, foreign or contradicted claim is refused", async () => {
    assert.deepEqual(await check(released("iot-a", "iot-b", 1), keys["iot-b"]), { admitted: ["ok"], refused: [], parked: 0 });
    assert.deepEqual(await check(released("iot-a", "iot-b", 1), keys["iot-c"]), { admitted: [], refused: ["not_owner"], parked: 0 }, "signed by another member");
    assert.deepEqual(await check(released("iot-a", "iot-b", 1, keys["iot-b"]), keys["iot-b"]), { admitted: [], refused: ["bad_release"], parked: 0 }, "a release the holder made itself");
    assert.deepEqual(await check(device({ generation: 5 }), keys["iot-b"]), { admitted: [], refused: ["no_release"], parked: 0 }, "away from home without a release");
    assert.deepEqual(await check(device({ holder: "iot-a", generation: 5, committedBy: "iot-a" }), keys["iot-a"]), { admitted: ["ok"], refused: [], parked: 0 }, "at its product's home");
    assert.deepEqual(await check(released("iot-a", "iot-b", 1), { ...keys["iot-b"]!, sign: (c, d) => stranger.sign(c, d) }), { admitted: [], refused: ["bad_signature"], parked: 0 });
    // iot-a holds it at generation 3; iot-c claims it with a genuine release from iot-b at 4: iot-a never let it go.
    store.records.commitOne(device({ holder: "iot-a", generation: 3, committedBy: "iot-a" }));
    assert.deepEqual(await check(released("iot-b", "iot-c", 4), keys["iot-c"]), { admitted: [], refused: ["contradicts_holder"], parked: 0 });
    assert.deepEqual(await check(released("iot-a", "iot-c", 4), keys["iot-c"]), { admitted: ["ok"], refused: [], parked: 0 });
  });

  it("product, pool, account and instance records: only their owner's", async () => {
    const product: RouteChange = { kind: "product", route: { ...store.records.product(PK)!, version: 9, committedBy: "iot-b" } };
    assert.deepEqual(await check(product, keys["iot-b"]), { admitted: [], refused: ["not_owner"], parked: 0 });
    const moved: RouteChange = { kind: "product", route: { ...store.records.product(PK)!, home: "iot-b", version: 9, committedBy: "iot-b" } };
    assert.deepEqual(await check(moved, keys["iot-b"]), { admitted: [], refused: ["not_owner"], parked: 0 }, "a product's home never changes");
    const account: RouteChange = { kind: "account", route: { accountId: "1234567890123456", accountName: "alice", home: "iot-c", version: 2, createdAt: 1, committedAt: 1 } };
    assert.deepEqual(await check(account, keys["iot-b"]), { admitted: [], refused: ["not_owner"], parked: 0 });
    assert.deepEqual(await check(account, keys["iot-c"]), { admitted: ["ok"], refused: [], parked: 0 });
    const inst = (id: string, cert: Uint8Array): RouteChange => ({ kind: "instance", route: { instanceId: id, regionId: "eu-central-1", mqttHost: "evil.example", mqttPort: 1883, version: Date.now(), certificates: [cert], peerAddress: "", kind: "public", committedAt: 1 } });
    assert.deepEqual(await check(inst("iot-c", keys["iot-b"]!.certificate), keys["iot-b"]), { admitted: [], refused: ["not_owner"], parked: 0 });
    assert.deepEqual(await check(inst("iot-b", stranger.certificate), stranger), { admitted: [], refused: ["bad_certificate"], parked: 0 });
    assert.deepEqual(await check(inst("iot-d", keys["iot-d"]!.certificate), keys["iot-d"]), { admitted: ["ok"], refused: [], parked: 0 }, "a new member joins with its CA certificate");
    assert.ok(members.known("iot-d"));
  });

  it("a record signed by a member whose instance record has not arrived waits for it", async () => {
    const c = device({ holder: "iot-a", generation: 7, committedBy: "iot-a" });
    const fresh = createMembers({ caPem: readFileSync(certs.ca) });
    const g = createRecordGate({ members: fresh, verifier: createVerifyPool(0), required: () => true, view: { self: "iot-b", device: () => undefined, productHome: () => "iot-a", accountHome: () => undefined, instanceVersion: () => 0 } });
    const r = await g.check([{ key: keyOf(c), revision: 1, value: sealRecord(c, "iot-a", keys["iot-a"]) }]);
    assert.equal(r.parked.length, 1);
  });

  it("a route's release proof is kept in the store as it came", () => {
    const c = released("iot-a", "iot-b", 2);
    store.records.commitOne(c);
    const kept = store.records.device(PK, "lamp-1")?.release;
    const sent = (c.route as DeviceRoute).release!;
    assert.ok(kept !== undefined);
    assert.deepEqual({ ...kept, keyId: Buffer.from(kept.keyId), rootSignature: Buffer.from(kept.rootSignature), path: kept.path.map((p) => Buffer.from(p)) }, {
      ...sent,
      keyId: Buffer.from(sent.keyId),
      rootSignature: Buffer.from(sent.rootSignature),
      path: sent.path.map((p) => Buffer.from(p)),
    });
    assert.deepEqual(store.records.keptRelease(PK, "lamp-1", "iot-b")?.generation, 2);
    assert.equal(store.records.keptRelease(PK, "lamp-1", "iot-c"), undefined);
  });

  it("product bundles: the owner's signature covers every field but the account; another member's, a changed field or none is refused", () => {
    const bundle: ProductBundle = { productKey: "bUnDlE00001", accountId: "1234567890123456", accountName: "acme", productName: "lamp", nodeType: "device", dataFormat: "alink-json", authType: "device-secret", status: "published", description: "", ownerInstanceId: "iot-b", version: 3, candidates: ["iot-b", "iot-c"], topics: [{ shortName: "b", operation: "pub", description: "" }, { shortName: "a", operation: "sub", description: "" }], thingModel: "{}", script: undefined };
    const signed = { ...bundle, ownerSignature: signBundle(keys["iot-b"]!, bundle) };
    assert.deepEqual(checkBundle(members, signed), { ok: true });
    assert.deepEqual(checkBundle(members, { ...signed, accountId: "6543210987654321", accountName: "other", topics: [...signed.topics].reverse() }), { ok: true }, "the account is not signed; topic order does not matter");
    for (const changed of [{ productName: "LAMP" }, { version: 4 }, { candidates: ["iot-c"] }, { topics: [{ shortName: "a", operation: "all" as const, description: "" }] }, { thingModel: "{ }" }, { script: { scriptType: "javascript" as const, content: "x" } }]) {
      const r = checkBundle(members, { ...signed, ...changed });
      assert.ok(!r.ok && r.reason === "bad_signature", JSON.stringify(changed));
    }
    const byC = checkBundle(members, { ...bundle, ownerSignature: signBundle(keys["iot-c"]!, { ...bundle, ownerInstanceId: "iot-c" }) });
    assert.ok(!byC.ok && byC.reason === "bad_certificate" && /names iot-c, not iot-b/.test(byC.detail));
    const byStranger = checkBundle(members, { ...bundle, ownerSignature: signBundle(stranger, bundle) });
    assert.ok(!byStranger.ok && byStranger.reason === "bad_certificate");
    const none = checkBundle(members, bundle);
    assert.ok(!none.ok && none.reason === "unsigned");
    assert.throws(() => signBundle(keys["iot-c"]!, bundle), /does not own product/);
  });

  it("a copy keeps its owner's signature to relay it; a copy made before signatures gets it when the owner pushes the same version again", () => {
    const acct = store.accounts.create("acme").accountId;
    const bundle: ProductBundle = { productKey: "cOpY0000001", accountId: acct, accountName: "acme", productName: "lamp", nodeType: "device", dataFormat: "alink-json", authType: "device-secret", status: "published", description: "", ownerInstanceId: "iot-b", version: 2, candidates: [], topics: [], thingModel: "{}", script: undefined };
    store.handoff.apply({ jobId: "job_copy_1", sourceInstance: "iot-b", product: bundle, devices: [] });
    assert.equal(store.products.bundle(bundle.productKey).ownerSignature, undefined, "made before signatures");
    const signature = signBundle(keys["iot-b"]!, bundle);
    assert.equal(store.handoff.sync({ ...bundle, ownerSignature: signature }, "iot-b").applied, false, "the same version: the copy does not change");
    const kept = store.products.bundle(bundle.productKey);
    assert.deepEqual(Buffer.from(kept.ownerSignature!.signature), Buffer.from(signature.signature));
    assert.deepEqual(checkBundle(members, kept), { ok: true }, "relayed as the owner signed it");
    store.handoff.sync({ ...bundle, ownerSignature: signBundle(keys["iot-b"]!, { ...bundle, description: "x" }) }, "iot-b");
    assert.deepEqual(Buffer.from(store.products.bundle(bundle.productKey).ownerSignature!.signature), Buffer.from(signature.signature), "a kept signature is not replaced at the same version");
    const v3 = { ...bundle, version: 3, productName: "lamp 2" };
    store.handoff.sync({ ...v3, ownerSignature: signBundle(keys["iot-b"]!, v3) }, "iot-b");
    assert.deepEqual(checkBundle(members, store.products.bundle(bundle.productKey)), { ok: true }, "a newer version brings its own");
  });

  it("judge: the previous holder at the generation before the release is the one that released", () => {
    const view = { self: "iot-z", device: () => ({ ...device({ holder: "iot-c", generation: 3 }).route }) as DeviceRoute, productHome: () => "iot-a", accountHome: () => undefined };
    const r = released("iot-b", "iot-d", 4).route as DeviceRoute;
    assert.equal(judge({ kind: "device", route: r }, "iot-d", true, view), "contradicts_holder");
    assert.equal(judge({ kind: "device", route: { ...r, release: { ...r.release!, from: "iot-c" } } }, "iot-d", true, view), undefined);
  });
});
