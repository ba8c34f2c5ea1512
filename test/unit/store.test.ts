import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import Database from "better-sqlite3";
import { openStore, SchemaError, SCHEMA_VERSION, STORE_FILE, type Db } from "../../internal/store/index.js";
import { openTestStore } from "../support/store.js";
import { AlreadyExistsError, PreconditionError, checkDeviceName } from "../../internal/domain/index.js";

describe("store", () => {
  let dir: string;
  let db: Db;
  const events: string[] = [];
  const open = () => {
    const s = openTestStore({ dir, self: "i1" });
    db = s.db;
    s.hub.on("product.changed", (p) => events.push(`p+${p.productKey}`));
    s.hub.on("product.deleted", (p) => events.push(`p-${p.productKey}`));
    s.hub.on("device.changed", (d) => events.push(`d+${d.deviceName}${d.disabled ? "!" : ""}`));
    s.hub.on("device.deleted", (d) => events.push(`d-${d.deviceName}`));
    return s;
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "iotfed-store-"));
    events.length = 0;
  });
  afterEach(() => {
    if (db.open) db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("migrates a new store to the current schema in WAL mode, and reopening is a no-op", () => {
    const first = openStore(dir);
    assert.equal(first.fromVersion, 0);
    assert.equal(first.toVersion, SCHEMA_VERSION);
    assert.equal(first.db.pragma("journal_mode", { simple: true }), "wal");
    first.db.close();
    const again = openStore(dir);
    assert.equal(again.fromVersion, SCHEMA_VERSION);
    db = again.db;
  });

  it("refuses a store written by a newer schema, naming the versions", () => {
    openStore(dir).db.close();
    const raw = new Database(join(dir, STORE_FILE));
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    assert.throws(() => openStore(dir), (e: unknown) => e instanceof SchemaError && /schema version \d+; this iotfedd knows up to \d+/.test(e.message));
    db = new Database(":memory:");
  });

  it("DeviceSecrets rest sealed: the plaintext is nowhere in the database file", () => {
    const { accounts, products, devices } = open();
    const a = accounts.create("acme");
    const p = products.create({ accountId: a.accountId, productName: "meter", nodeType: "device", dataFormat: "alink-json", description: "", ownerInstanceId: "i1" });
    const { secret } = devices.register(p.productKey, { deviceName: "dev-0001", nickname: "" });
    db.pragma("wal_checkpoint(TRUNCATE)");
    const file = readFileSync(join(dir, STORE_FILE));
    assert.equal(file.includes(Buffer.from(secret)), false);
    assert.equal(devices.secret(p.productKey, "dev-0001"), secret);
  });

  it("a batch registers in one transaction with a result per device and tells the route table only of successes", () => {
    const { accounts, products, devices } = open();
    const a = accounts.create("acme");
    const p = products.create({ accountId: a.accountId, productName: "meter", nodeType: "device", dataFormat: "alink-json", description: "", ownerInstanceId: "i1" });
    devices.register(p.productKey, { deviceName: "taken-1", nickname: "" });
    const results = devices.registerBatch(
      p.productKey,
      ["ok-0001", "bad", "taken-1", "ok-0001", "ok-0002"].map((deviceName) => ({ deviceName, nickname: "" })),
      (d, i) => checkDeviceName(d.deviceName, `device_names[${i}]`),
    );
    assert.deepEqual(results.map((r) => r.ok), [true, false, false, false, true]);
    assert.match(!results[1]!.ok ? results[1]!.error.message : "", /device_names\[1\]/);
    assert.ok(!results[2]!.ok && results[2]!.error instanceof AlreadyExistsError);
    assert.deepEqual(events.filter((e) => e.startsWith("d+")), ["d+taken-1", "d+ok-0001", "d+ok-0002"]);
  });

  it("pages through devices by name with status and prefix filters", () => {
    const { accounts, products, devices } = open();
    const a = accounts.create("acme");
    const p = products.create({ accountId: a.accountId, productName: "meter", nodeType: "device", dataFormat: "alink-json", description: "", ownerInstanceId: "i1" });
    devices.registerBatch(p.productKey, Array.from({ length: 25 }, (_, i) => ({ deviceName: `dev_${String(i).padStart(3, "0")}`, nickname: "" })), () => {});
    devices.register(p.productKey, { deviceName: "devX001", nickname: "" });
    devices.setDisabled(p.productKey, "dev_003", true);
    const seen: string[] = [];
    let token = "";
    do {
      const page = devices.list(p.productKey, 10, token, { namePrefix: "dev_" });
      seen.push(...page.items.map((d) => d.deviceName));
      token = page.nextPageToken;
    } while (token !== "");
    assert.equal(seen.length, 25, "the `_` in the prefix is literal, not a wildcard");
    assert.deepEqual(devices.list(p.productKey, 50, "", { status: "disabled" }).items.map((d) => d.deviceName), ["dev_003"]);
    assert.equal(devices.list(p.productKey, 50, "", { status: "inactive" }).items.length, 25);
    assert.throws(() => devices.list(p.productKey, 10, "garbage!", {}), /page_token/);
  });

  it("a product with devices cannot be deleted; without devices it goes with its topic classes", () => {
    const { accounts, products, devices } = open();
    const a = accounts.create("acme");
    const p = products.create({ accountId: a.accountId, productName: "meter", nodeType: "device", dataFormat: "alink-json", description: "", ownerInstanceId: "i1" });
    products.createTopic(p.productKey, "update", "pub", "");
    devices.register(p.productKey, { deviceName: "dev-0001", nickname: "" });
    assert.throws(() => products.delete(p.productKey), PreconditionError);
    devices.delete(p.productKey, "dev-0001");
    products.delete(p.productKey);
    assert.equal(products.get(p.productKey), undefined);
    assert.equal((db.prepare("SELECT count(*) AS n FROM topic_classes").get() as { n: number }).n, 0);
  });

  it("every product change bumps its version", () => {
    const { accounts, products } = open();
    const a = accounts.create("acme");
    const p = products.create({ accountId: a.accountId, productName: "meter", nodeType: "device", dataFormat: "alink-json", description: "", ownerInstanceId: "i1" });
    assert.equal(p.version, 1);
    products.update(p.productKey, { description: "x" });
    const t = products.createTopic(p.productKey, "update", "pub", "");
    products.updateTopic(t, "update2", "all", "");
    products.setThingModel(p.productKey, '{"properties":[],"events":[],"services":[]}');
    products.setScript(p.productKey, "javascript", "var x;", "create");
    products.release(p.productKey);
    assert.equal(products.require(p.productKey).version, 7);
  });

  it("tokens are stored hashed and stop working when revoked", () => {
    const { accounts } = open();
    const a = accounts.create("acme");
    const { token, secret } = accounts.createToken(a.accountId, "ci");
    const row = db.prepare("SELECT * FROM api_tokens").get() as Record<string, unknown>;
    assert.equal(JSON.stringify(row).includes(secret), false);
    assert.equal(accounts.findToken(secret)?.accountId, a.accountId);
    accounts.revokeToken(token.tokenId);
    assert.equal(accounts.findToken(secret), undefined);
  });
});
