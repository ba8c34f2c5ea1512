import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AUTH_CODE_TTL_MS,
  authCodeMatches,
  newAuthCode,
  resolveCrossAccountTarget,
  type KnownInstanceKind,
} from "../../internal/domain/index.js";
import Database from "better-sqlite3";
import { MIGRATIONS } from "../../internal/store/migrations.js";
import type { AuthCodesRepo } from "../../internal/store/index.js";
import { openTestStore, type TestStore } from "../support/store.js";

describe("cross-account store: authorization codes (R4) and grants (R16)", () => {
  let store: TestStore;
  let t: number;
  let codes: AuthCodesRepo;
  let alice: string;
  let bob: string;
  beforeEach(() => {
    t = Date.UTC(2026, 10, 26, 12, 0, 0);
    // The clock is injected: "five minutes later" is a number, not a sleep.
    store = openTestStore({ self: "iot-sh", now: () => t, codeClock: () => t });
    alice = store.accounts.create("alice").accountId;
    bob = store.accounts.create("bob").accountId;
    codes = store.authCodes;
  });
  afterEach(() => store.close());

  const issue = () => codes.issue({ requesterAccount: alice, requesterName: "alice", requesterPeer: "iot-eu", targetAccount: bob });
  const redeem = (code: string, jobId = "job_1", callerPeer = "iot-eu") =>
    codes.redeem({ code, requesterAccount: alice, targetAccount: bob, jobId, productKey: "a1B2c3D4e5F", callerPeer });
  const wrong = (code: string): string => String((Number(code) + 1) % 1_000_000).padStart(6, "0");

  it("R4: codes are six digits from the CSPRNG and compare exactly", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const c = newAuthCode();
      assert.match(c, /^[0-9]{6}$/);
      seen.add(c);
    }
    assert.ok(seen.size > 190, "codes repeat far too often");
    assert.equal(authCodeMatches("012345", "012345"), true);
    assert.equal(authCodeMatches("012346", "012345"), false);
    assert.equal(authCodeMatches("01234", "012345"), false);
    assert.equal(authCodeMatches("0123456", "012345"), false);
  });

  it("R4: a code is used once: bound to one job, refused for any other", () => {
    const { code } = issue();
    const ok = redeem(code, "job_1");
    assert.equal(ok.ok, true);
    // The same job again (a retried call) gets the same answer.
    assert.deepEqual(redeem(code, "job_1"), { ok: true, codeId: ok.codeId, again: true });
    const again = redeem(code, "job_2");
    assert.equal(again.ok, false);
    assert.equal(!again.ok && again.reason, "used");
    assert.equal(codes.redeemedFor("job_1", "iot-eu", alice, bob, "a1B2c3D4e5F"), true);
    assert.equal(codes.redeemedFor("job_2", "iot-eu", alice, bob, "a1B2c3D4e5F"), false);
    assert.equal(codes.redeemedFor("job_1", "iot-us", alice, bob, "a1B2c3D4e5F"), false, "another source daemon cannot ride on the job");
    assert.equal(codes.redeemedFor("job_1", "iot-eu", alice, bob, "zzzzzzzzzzz"), false, "the code is for the job's product only");
  });

  it("R4: a code older than 5 minutes is refused (injected clock)", () => {
    const { code, expiresAt } = issue();
    assert.equal(expiresAt - t, AUTH_CODE_TTL_MS);
    t += AUTH_CODE_TTL_MS; // exactly five minutes: still valid
    t += 1; // one millisecond past
    const r = redeem(code);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.reason, "expired");
    assert.match(!r.ok ? r.message : "", /expired/);
    assert.equal(codes.list(bob, 10, "").items[0]!.state, "expired");
    assert.equal(codes.list(bob, 10, "").items[0]!.code, "", "an expired code's digits are not shown");
  });

  it("R4: a code at 4 minutes 59 seconds is still good", () => {
    const { code } = issue();
    t += AUTH_CODE_TTL_MS - 1000;
    assert.equal(redeem(code).ok, true);
  });

  it("R4: brute force stops after 5 wrong tries: the right code is void after them", () => {
    const { code } = issue();
    const left: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = redeem(wrong(code));
      assert.equal(r.ok, false);
      left.push(r.ok ? -1 : r.triesLeft);
    }
    assert.deepEqual(left, [4, 3, 2, 1, 0]);
    const right = redeem(code);
    assert.equal(right.ok, false, "the right code after 5 wrong tries must be refused");
    assert.equal(!right.ok && right.reason, "void");
    const listed = codes.list(bob, 10, "").items[0]!;
    assert.equal(listed.state, "void");
    assert.equal(listed.failedTries, 5);
  });

  it("R4: the target account reads its code; the requester's listing holds nothing", () => {
    const { code, codeId } = issue();
    const mine = codes.list(bob, 10, "").items;
    assert.equal(mine.length, 1);
    assert.equal(mine[0]!.codeId, codeId);
    assert.equal(mine[0]!.code, code);
    assert.deepEqual(codes.list(alice, 10, "").items, []);
    // sealed at rest: the digits are not in the row
    const raw = store.db.prepare("SELECT * FROM auth_codes").all() as Record<string, unknown>[];
    assert.ok(!JSON.stringify(raw).includes(`"${code}"`));
  });

  it("R4: a new code replaces the live one, and issuing is rate-limited per account pair", () => {
    const first = issue();
    const second = issue();
    const r = redeem(first.code === second.code ? wrong(second.code) : first.code);
    assert.equal(r.ok, false);
    assert.equal(codes.list(bob, 10, "").items.find((c) => c.codeId === first.codeId)!.state, "replaced");
    for (let i = 0; i < 8; i++) issue();
    assert.throws(() => issue(), (e: Error) => e.name === "ResourceExhaustedError" && /in the last hour/.test(e.message));
    t += 3600_001;
    assert.doesNotThrow(() => issue());
  });

  it("R4: a code asked for through one daemon is not redeemed through another", () => {
    const { code } = issue();
    const r = redeem(code, "job_1", "iot-us");
    assert.equal(r.ok, false);
    assert.equal(redeem(code, "job_1", "iot-eu").ok, true);
  });

  it("R16: a product grant is revoked only after its device grants", () => {
    const { products, grants } = store;
    const p = products.create({ accountId: alice, productName: "meter", nodeType: "device", dataFormat: "alink-json", description: "", ownerInstanceId: "iot-sh" });
    const g1 = grants.grantDevice(p.productKey, "m-1", alice, bob);
    const g2 = grants.grantDevice(p.productKey, "m-2", alice, bob);
    assert.equal(g1.product.grantId, g2.product.grantId, "one product grant per grantee");
    assert.throws(() => grants.revoke(g1.product.grantId), /^Error|R16: .*device m-1 is still granted/);
    grants.revoke(g1.device.grantId);
    assert.throws(() => grants.revoke(g1.product.grantId), /R16: .*device m-2/);
    grants.revoke(g2.device.grantId);
    grants.revoke(g1.product.grantId);
    assert.equal(grants.hasProductGrant(p.productKey, bob), false);
    assert.equal(grants.receivedFromOthers(bob), false);
  });
});

describe("schema 5 over a store of schema 4", () => {
  it("keeps queued routes, and publishes the accounts made before the directory as this instance's", () => {
    const dir = mkdtempSync(join(tmpdir(), "iotfed-mig5-"));
    try {
      const raw = new Database(join(dir, "iotfed.db"));
      for (let v = 0; v < 4; v++) {
        raw.exec(MIGRATIONS[v]!);
        raw.pragma(`user_version = ${v + 1}`);
      }
      raw.exec("INSERT INTO accounts(account_id, account_name, created_at) VALUES ('1234', 'old', 1)");
      raw.exec("INSERT INTO route_outbox(kind, k1, k2, created_at) VALUES ('device', 'a1B2c3D4e5F', 'dev-1', 5)");
      raw.close();
      const store = openTestStore({ dir, self: "iot-x" });
      const { db, fromVersion, accounts, outbox } = store;
      assert.equal(fromVersion, 4);
      assert.equal(accounts.adoptLocal(), 1);
      assert.equal(accounts.adoptLocal(), 0, "adopted once");
      // the queued row survived the outbox table's rebuild, ahead of the account's record
      assert.deepEqual(db.prepare("SELECT kind, k1 FROM route_outbox ORDER BY seq").all(), [
        { kind: "device", k1: "a1B2c3D4e5F" },
        { kind: "account", k1: "1234" },
      ]);
      const account = outbox.pending(10).find((i) => i.change.kind === "account");
      assert.equal(account?.change.kind === "account" && account.change.route.home, "iot-x");
      assert.deepEqual(db.pragma("integrity_check"), [{ integrity_check: "ok" }]);
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("cross-account targets (R4, R5)", () => {
  const self: KnownInstanceKind = { id: "iot-sh-legacy", region: "cn-shanghai", kind: "legacy-public" };
  const peers: KnownInstanceKind[] = [
    { id: "iot-sh-ent", region: "cn-shanghai", kind: "enterprise" },
    { id: "iot-eu", region: "eu-central-1", kind: "public" },
    { id: "iot-us-legacy", region: "us-west-1", kind: "legacy-public" },
  ];
  it("R4: an empty target instance means the region's legacy public instance, and only that", () => {
    assert.equal(resolveCrossAccountTarget("us-west-1", "", self, peers).id, "iot-us-legacy");
    assert.throws(() => resolveCrossAccountTarget("eu-central-1", "", self, peers), /^Error|R4: target_instance_id may be empty only when the target is the legacy public instance of region eu-central-1/);
    assert.throws(() => resolveCrossAccountTarget("", "", self, peers), /target_region_id/);
    assert.equal(resolveCrossAccountTarget("eu-central-1", "iot-eu", self, peers).id, "iot-eu");
  });
  it("R5: cross-account inside one region's legacy public instance is refused", () => {
    assert.throws(() => resolveCrossAccountTarget("cn-shanghai", "", self, peers), /R5: cross-account distribution inside the legacy public instance iot-sh-legacy/);
    assert.throws(() => resolveCrossAccountTarget("cn-shanghai", "iot-sh-legacy", self, peers), /R5: /);
    // another instance of the same region is fine
    assert.equal(resolveCrossAccountTarget("cn-shanghai", "iot-sh-ent", self, peers).id, "iot-sh-ent");
  });
});
