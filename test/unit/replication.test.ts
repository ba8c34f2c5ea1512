import assert from "node:assert/strict";
import { openTestStore, type TestStore } from "../support/store.js";
import { decodeRecord, decodeToken, encodeRecord, encodeToken, keyOf, RecordError } from "../../internal/replication/index.js";
import type { DeviceRoute, RouteChange } from "../../internal/domain/index.js";

const dev = (over: Partial<DeviceRoute> = {}): RouteChange => ({
  kind: "device",
  route: { productKey: "a1B2c3D4e5F", deviceName: "dev.1@site:2_x", holder: "iot-b-1", generation: 1, nearest: false, committedBy: "iot-b-1", committedAt: 1700000000000, ...over },
});

describe("replication keys and records", () => {
  it("encodes any DeviceName into a safe, reversible KV key token", () => {
    for (const name of ["dev.1@site:2_x", "a_2E", "____", "x.y.z", "A-b-9", "über*>"]) {
      const t = encodeToken(name);
      assert.match(t, /^[A-Za-z0-9_-]+$/, t);
      assert.equal(decodeToken(t), name);
    }
    assert.notEqual(encodeToken("a.b"), encodeToken("a_2Eb"));
    assert.equal(keyOf(dev()), "dev.a1B2c3D4e5F.dev_2E1_40site_3A2_5Fx");
    assert.throws(() => decodeToken("a.b"), /not an encoded key token/);
  });

  it("round-trips a record, and refuses one filed under another key or with bad fields", () => {
    const c = dev();
    const bytes = encodeRecord(c, "iot-b-1");
    assert.deepEqual(decodeRecord(keyOf(c), bytes), c);
    assert.throws(() => decodeRecord(keyOf(dev({ deviceName: "other-1" })), bytes), RecordError);
    assert.throws(() => decodeRecord(keyOf(c), encodeRecord(dev({ generation: 0 }), "x")), /generation/);
    const badHolder = dev({ holder: "not an id" });
    assert.throws(() => decodeRecord(keyOf(badHolder), encodeRecord(badHolder, "x")), /holder/);
    assert.throws(() => decodeRecord(keyOf(c), Buffer.from("garbage that is not protobuf \xff\xff")), RecordError);
  });

  it("account directory and public pool records (R17) round-trip, carry no secret, and are refused under another key", () => {
    const acct: RouteChange = { kind: "account", route: { accountId: "1234567890123456", accountName: "alice", home: "iot-a-1", version: 1, createdAt: 1700000000000, committedAt: 1700000000000 } };
    const bytes = encodeRecord(acct, "iot-a-1");
    assert.equal(keyOf(acct), "acct.1234567890123456");
    assert.deepEqual(decodeRecord(keyOf(acct), bytes), acct);
    assert.throws(() => decodeRecord("acct.999", bytes), RecordError);
    const bad: RouteChange = { kind: "account", route: { ...acct.route, accountName: "has space" } };
    assert.throws(() => decodeRecord(keyOf(bad), encodeRecord(bad, "x")), /account_name/);
    const pool: RouteChange = {
      kind: "pool",
      route: {
        productKey: "a1B2c3D4e5F", accountId: "1234567890123456", accountName: "alice", productName: "Meter", nodeType: "device", dataFormat: "alink-json",
        description: "", home: "iot-a-1", version: 3, topics: [{ shortName: "update", operation: "pub", description: "" }], thingModel: '{"properties":[]}',
        pooledAt: 1700000000000, committedBy: "iot-a-1", committedAt: 1700000000001,
      },
    };
    assert.equal(keyOf(pool), "pool.a1B2c3D4e5F");
    assert.deepEqual(decodeRecord(keyOf(pool), encodeRecord(pool, "iot-a-1")), pool);
    assert.throws(() => decodeRecord("pool.zzzzzzzzzzz", encodeRecord(pool, "iot-a-1")), RecordError);
  });
});

describe("routes store (generations order everything)", () => {
  let store: TestStore;
  let db: TestStore["db"];
  beforeEach(() => {
    store = openTestStore({ self: "i1" });
    db = store.db;
  });
  afterEach(() => store.close());

  it("applies a record only when its generation is higher: duplicates and reordering change nothing", () => {
    const routes = store.records;
    const g2 = dev({ holder: "iot-c-1", generation: 2 });
    assert.deepEqual(routes.apply([{ revision: 5, change: g2 }], 5), [g2]);
    assert.deepEqual(routes.apply([{ revision: 6, change: dev({ generation: 1 }) }, { revision: 7, change: g2 }, { revision: 8, change: dev({ holder: "iot-a-1", generation: 2 }) }], 8), []);
    assert.equal(routes.device("a1B2c3D4e5F", "dev.1@site:2_x")!.holder, "iot-c-1");
    assert.equal(routes.lastRevision(), 8);
    const g3 = dev({ holder: "iot-a-1", generation: 3 });
    assert.deepEqual(routes.apply([{ revision: 9, change: g3 }], 9), [g3]);
    assert.equal(routes.device("a1B2c3D4e5F", "dev.1@site:2_x")!.holder, "iot-a-1");
  });

  it("an account record whose name another account holds here is reported, not applied; the rest of the batch is", () => {
    const routes = store.records;
    const acct = (id: string, name: string, version = 1): RouteChange => ({ kind: "account", route: { accountId: id, accountName: name, home: "iot-b-1", version, createdAt: 1, committedAt: 1 } });
    routes.commit(acct("1111", "alice"), true);
    const conflicts: RouteChange[] = [];
    const applied = routes.apply([{ revision: 1, change: acct("2222", "alice") }, { revision: 2, change: acct("3333", "bob") }], 2, (c) => conflicts.push(c));
    assert.deepEqual(applied.map((c) => (c.kind === "account" ? c.route.accountId : "")), ["3333"]);
    assert.deepEqual(conflicts.map((c) => (c.kind === "account" ? c.route.accountId : "")), ["2222"]);
    assert.equal(routes.lastRevision(), 2);
    // a rename of a known account applies when newer
    assert.equal(routes.apply([{ revision: 3, change: acct("3333", "robert", 2) }], 3).length, 1);
    assert.equal((db.prepare("SELECT account_name FROM accounts WHERE account_id = '3333'").get() as { account_name: string }).account_name, "robert");
    // and an own create under a taken name is refused, naming the field
    assert.throws(() => routes.commit(acct("4444", "robert"), true), /account_name: an account named "robert" exists/);
  });

  it("an own commit queues an outbox row in the caller's transaction; a rolled-back change queues nothing", () => {
    const routes = store.records;
    assert.throws(() =>
      db.transaction(() => {
        routes.commit(dev(), true);
        throw new Error("rollback");
      })(),
    );
    assert.equal(store.outbox.depth().rows, 0);
    assert.equal(routes.device("a1B2c3D4e5F", "dev.1@site:2_x"), undefined);
    routes.commit(dev({ generation: 1 }), true);
    routes.commit(dev({ generation: 2, holder: "iot-c-1" }), true);
    assert.equal(routes.commit(dev({ generation: 1 }), true), false, "an older commit is not newer");
    const items = store.outbox.pending(10);
    assert.equal(items.length, 2);
    // The outbox sends the route's current record, so both rows carry generation 2.
    assert.deepEqual(items.map((i) => (i.change.kind === "device" ? i.change.route.generation : 0)), [2, 2]);
    store.outbox.ack(items.map((i) => i.seq));
    assert.equal(store.outbox.depth().rows, 0);
  });

  it("R10/R6: a device registered under a name that was distributed before starts at its route's generation, so its next move outranks the old route", () => {
    const routes = store.records;
    routes.apply([{ revision: 1, change: dev({ deviceName: "reused-1", holder: "i1", generation: 4 }) }], 1);
    db.exec(`INSERT INTO accounts(account_id, account_name, created_at) VALUES ('acct', 'acme', 0);
      INSERT INTO products(product_key, account_id, product_name, node_type, data_format, auth_type, status, owner_instance_id, version, created_at, updated_at)
      VALUES ('a1B2c3D4e5F', 'acct', 'p', 'device', 'alink-json', 'device-secret', 'developing', 'i1', 1, 0, 0)`);
    const { devices } = store;
    assert.equal(devices.register("a1B2c3D4e5F", { deviceName: "reused-1", nickname: "" }).device.generation, 4);
    assert.equal(devices.register("a1B2c3D4e5F", { deviceName: "fresh-1", nickname: "" }).device.generation, 0);
  });
});
