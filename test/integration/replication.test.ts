import assert from "node:assert/strict";
import { mkdirSync, rmSync } from "node:fs";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { jetstreamManager } from "@nats-io/jetstream";
import { decodeRecord, encodeRecord, keyOf } from "../../internal/replication/index.js";
import { bootstrap, makeCerts, startFederation, TestDaemon, waitFor, type AdminClient, type FederationMember } from "../support/daemon.js";
import { NatsServer } from "../support/nats.js";
import { distributeAndWait } from "../support/jobs.js";

type Fed = Awaited<ReturnType<typeof startFederation>>;

const form = (pk: string, dn: string) => `productKey=${pk}&deviceName=${encodeURIComponent(dn)}&clientId=${pk}.${encodeURIComponent(dn)}&resources=mqtt`;
const hostOf = async (d: TestDaemon, pk: string, dn: string): Promise<string | undefined> => {
  const r = await bootstrap(d.addresses!.bootstrap, form(pk, dn));
  return r.status === 200 ? (r.json.data.resources.mqtt.host as string) : `HTTP ${r.status}`;
};
/** A sample's value; `name` is the metric name, or name{labels} exactly as exported. */
const metric = async (d: TestDaemon, name: string): Promise<number> => {
  const text = await d.metrics();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || (!name.includes("{") && l.startsWith(`${name}{`)));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(" ") + 1));
};
const readyz = async (d: TestDaemon) => {
  const r = await fetch(`http://${d.addresses!.metrics}/readyz`);
  return { status: r.status, body: (await r.json()) as { status: string; reason?: string } };
};


/**
 * The replication plane with real processes: one nats-server (killed and
 * restarted by the tests) and three daemons; a fourth joins later. Every
 * daemon answers bootstrap for every distributed device from memory.
 */
describe("replicated routes: a global bootstrap answered at every daemon", function () {
  this.timeout(240000);
  let nats: NatsServer;
  let fed: Fed;
  let A: FederationMember, B: FederationMember, C: FederationMember;
  let a: AdminClient;
  let accountId: string;
  let pk: string;
  const late: TestDaemon[] = [];

  before(async () => {
    nats = await NatsServer.start();
    fed = await startFederation(3, { config: { replication: { servers: [nats.url], staleAfterMs: 1000 } } });
    [A, B, C] = fed.members as [FederationMember, FederationMember, FederationMember];
    const acct = await A.daemon.ctlJson(["account", "create", "acme"]);
    accountId = acct.account.accountId;
    a = A.daemon.admin(accountId);
    pk = (await a.createProduct({ productName: "Tracker" })).product!.productKey;
    const names = Array.from({ length: 50 }, (_, i) => `trk-${String(i).padStart(3, "0")}`).concat(["odd.name@site:7", "under_score-1"]);
    assert.equal((await a.batchRegisterDevice({ productKey: pk, deviceNames: names })).successCount, names.length);
  });
  after(async () => {
    a?.close();
    for (const d of late) await d.dispose();
    await fed?.dispose();
    await nats?.dispose();
  });

  it("a product's home is known at every daemon: C answers A's endpoint for a device that never moved", async () => {
    await waitFor("C to learn the product", async () => ((await hostOf(C.daemon, pk, "trk-001")) === A.mqtt.host ? true : undefined), 10000, 50);
    assert.equal(await hostOf(C.daemon, "zzzzzzzzzzz", "trk-001"), "HTTP 404");
  });

  it("after a distribution A→B, a bootstrap at C returns B's endpoint within 5 s (names with . @ : _ included)", async () => {
    const t0 = Date.now();
    await distributeAndWait(a, pk, B, ["trk-000", "trk-001", "odd.name@site:7", "under_score-1"]);
    for (const dn of ["trk-000", "trk-001", "odd.name@site:7", "under_score-1"]) {
      await waitFor(`C to route ${dn} to B`, async () => ((await hostOf(C.daemon, pk, dn)) === B.mqtt.host ? true : undefined), 5000, 20);
      assert.equal(await hostOf(A.daemon, pk, dn), B.mqtt.host);
      assert.equal(await hostOf(B.daemon, pk, dn), B.mqtt.host);
    }
    assert.equal(await hostOf(C.daemon, pk, "trk-002"), A.mqtt.host);
    console.log(`      (distribution committed and visible at C in ${Date.now() - t0} ms)`);
    assert.equal(await metric(C.daemon, "iotfed_replication_connected"), 1);
    assert.equal((await readyz(C.daemon)).body.status, "ready");
  });

  it("with NATS down bootstrap keeps answering from memory and /readyz says replication is stale; after NATS returns, every daemon converges", async () => {
    await nats.kill();
    await waitFor("C to report stale replication", async () => {
      const r = await readyz(C.daemon);
      return r.status === 200 && r.body.status === "degraded" && /replication stale/.test(r.body.reason ?? "") ? true : undefined;
    }, 10000, 100);
    assert.equal(await metric(C.daemon, "iotfed_replication_connected"), 0);
    assert.ok((await metric(C.daemon, "iotfed_replication_lag_seconds")) > 0);
    assert.equal(await hostOf(C.daemon, pk, "trk-000"), B.mqtt.host, "answers from memory");
    // The peer plane does not need NATS: distribute while it is down.
    await distributeAndWait(a, pk, C, ["trk-010", "trk-011"]);
    await distributeAndWait(a, pk, B, ["trk-012"]);
    assert.ok((await metric(C.daemon, "iotfed_replication_outbox_rows")) >= 2, "C holds its unpublished routes");
    assert.equal(await hostOf(B.daemon, pk, "trk-010"), A.mqtt.host, "B cannot know yet");
    await nats.start();
    for (const d of [A, B, C]) {
      await waitFor(`${d.id} to converge`, async () =>
        (await hostOf(d.daemon, pk, "trk-010")) === C.mqtt.host && (await hostOf(d.daemon, pk, "trk-012")) === B.mqtt.host ? true : undefined,
      20000, 100);
    }
    await waitFor("C to be caught up and ready", async () => ((await readyz(C.daemon)).body.status === "ready" ? true : undefined), 10000, 100);
    assert.equal(await metric(C.daemon, "iotfed_replication_revisions_behind"), 0);
    assert.equal(await metric(C.daemon, "iotfed_replication_outbox_rows"), 0);
  });

  it("a daemon restarted with an empty memory answers at once from routes loaded from SQLite (NATS down)", async () => {
    await nats.kill();
    await C.daemon.kill();
    await C.daemon.start();
    assert.equal(await hostOf(C.daemon, pk, "trk-000"), B.mqtt.host);
    assert.equal(await hostOf(C.daemon, pk, "odd.name@site:7"), B.mqtt.host);
    assert.equal(await hostOf(C.daemon, pk, "trk-012"), B.mqtt.host);
    assert.equal(await hostOf(C.daemon, pk, "trk-010"), C.mqtt.host);
    assert.equal(await hostOf(C.daemon, pk, "trk-030"), A.mqtt.host);
    await nats.start();
    await waitFor("C to reconnect", async () => ((await metric(C.daemon, "iotfed_replication_connected")) === 1 ? true : undefined), 10000, 100);
  });

  it("a daemon started fresh, with no peers configured but a certificate of the federation's CA, catches up from the stream, checking every signature: products, device routes and instance endpoints", async () => {
    const certs = makeCerts(fed.certDir, ["iot-us-west-1-9"]);
    const D = new TestDaemon({
      config: {
        region: { id: "us-west-1" },
        instance: { id: "iot-us-west-1-9", mqtt: { host: "mqtt.us-west-1.example.com" } },
        peer: { listen: "127.0.0.1:0", tls: { caFile: certs.ca, certFile: certs.cert("iot-us-west-1-9"), keyFile: certs.key("iot-us-west-1-9") } },
        replication: { servers: [nats.url] },
      },
    });
    late.push(D);
    await D.start();
    await waitFor("D to catch up", async () =>
      (await hostOf(D, pk, "trk-000")) === B.mqtt.host && (await hostOf(D, pk, "trk-010")) === C.mqtt.host && (await hostOf(D, pk, "trk-049")) === A.mqtt.host ? true : undefined,
    15000, 100);
    assert.equal(await hostOf(D, pk, "under_score-1"), B.mqtt.host);
    assert.equal(await metric(D, "iotfed_replication_revisions_behind"), 0);
    assert.ok(!(await D.metrics()).includes("iotfed_replication_refused_total{"), "no genuine record is refused");
  });

  it("duplicated and reordered route records (replayed into the stream) change nothing", async () => {
    // trk-020 moves A→B (generation 1) and then B→C (generation 2).
    await distributeAndWait(a, pk, B, ["trk-020"]);
    const key = keyOf({ kind: "device", route: { productKey: pk, deviceName: "trk-020", holder: "", generation: 0, nearest: false, committedBy: "", committedAt: 0 } });
    const readKey = async (): Promise<Uint8Array | undefined> => {
      const nc = await connect({ servers: nats.url });
      try {
        const e = await (await new Kvm(nc).open("iotfed-routes")).get(key);
        const r = e?.operation === "PUT" ? decodeRecord(key, e.value) : undefined;
        return r?.kind === "device" && r.route.holder === B.id ? e!.value : undefined;
      } finally {
        await nc.close();
      }
    };
    const gen1Bytes = await waitFor("B's signed record of trk-020", readKey, 10000, 50); // genuine, soon old
    const b = B.daemon.admin(accountId);
    try {
      await distributeAndWait(b, pk, C, ["trk-020"]);
    } finally {
      b.close();
    }
    for (const d of [A.daemon, B.daemon, late[0]!]) {
      await waitFor("trk-020 at C everywhere", async () => ((await hostOf(d, pk, "trk-020")) === C.mqtt.host ? true : undefined), 10000, 50);
    }
    const nc = await connect({ servers: nats.url });
    try {
      const kv = await new Kvm(nc).open("iotfed-routes");
      const cur = await kv.get(key);
      assert.ok(cur !== null && cur.operation === "PUT");
      const current = decodeRecord(key, cur.value);
      assert.ok(current.kind === "device" && current.route.holder === C.id && current.route.generation === 2);
      // Replayed out of order: B's genuine generation 1 after generation 2; the
      // same generation with another holder (unsigned: nobody can sign it); the
      // current record again; and a genuine record filed under another device's key.
      const sameGenOtherHolder = { kind: "device" as const, route: { ...current.route, holder: A.id } };
      const misfiledKey = keyOf({ kind: "device", route: { ...current.route, deviceName: "trk-021" } });
      const revs = [
        await kv.put(key, gen1Bytes),
        await kv.put(key, encodeRecord(sameGenOtherHolder, A.id)),
        await kv.put(key, cur.value),
        await kv.put(misfiledKey, gen1Bytes),
      ];
      const last = Math.max(...revs);
      for (const d of [A.daemon, B.daemon, C.daemon, late[0]!]) {
        const staleBefore = await metric(d, 'iotfed_replication_records_total{kind="device",result="stale"}');
        await waitFor("the replayed records to be read", async () => ((await metric(d, "iotfed_replication_last_revision")) >= last ? true : undefined), 10000, 50).catch(async (e) => { console.log("last", last, "have", await metric(d, "iotfed_replication_last_revision"), d.logs.filter((l) => /warn/.test(l)).slice(-5).join("\n")); throw e; });
        assert.equal(await hostOf(d, pk, "trk-020"), C.mqtt.host);
        assert.equal(await hostOf(d, pk, "trk-021"), A.mqtt.host, "a misfiled record is refused");
        assert.ok((await metric(d, 'iotfed_replication_records_total{kind="device",result="stale"}')) >= (Number.isNaN(staleBefore) ? 0 : staleBefore));
      }
      assert.ok((await metric(C.daemon, 'iotfed_replication_records_total{kind="device",result="stale"}')) >= 2);
      // The forged same-generation record (unsigned) changed nothing: it is no newer, and is not even checked.
      assert.ok((await metric(C.daemon, 'iotfed_replication_records_total{kind="unknown",result="invalid"}')) >= 1);
      // After a restart, what SQLite kept gives the same answers.
      await C.daemon.kill();
      await C.daemon.start();
      assert.equal(await hostOf(C.daemon, pk, "trk-020"), C.mqtt.host);
      assert.equal(await hostOf(C.daemon, pk, "trk-021"), A.mqtt.host);
      await kv.purge(misfiledKey); // the operator's clean-up; a purge is not a route and is ignored
    } finally {
      await nc.close();
    }
  });

  it("no secret goes over NATS: no message of the routes stream, old or current, holds a device's secret, and every current value is a route record", async () => {
    const names = ["trk-049", "trk-000", "odd.name@site:7"];
    const secrets: string[] = [];
    for (const dn of names) {
      const holder = (await hostOf(A.daemon, pk, dn)) === B.mqtt.host ? B.daemon.admin(accountId) : A.daemon.admin(accountId);
      try {
        const s = (await holder.queryDeviceDetail({ productKey: pk, deviceName: dn, includeSecret: true })).device?.deviceSecret ?? "";
        assert.ok(s.length >= 16, `the secret of ${dn} is read`);
        secrets.push(s);
      } finally {
        holder.close();
      }
    }
    const nc = await connect({ servers: nats.url });
    try {
      const kv = await new Kvm(nc).open("iotfed-routes");
      const keys: string[] = [];
      for await (const k of await kv.keys()) keys.push(k);
      assert.ok(keys.length > 5);
      for (const k of keys) decodeRecord(k, (await kv.get(k))!.value); // parses as a route record, and nothing else
      // Every message the stream still holds, superseded ones included.
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info("KV_iotfed-routes");
      let read = 0;
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        const m = await jsm.streams.getMessage("KV_iotfed-routes", { seq }).catch(() => null);
        if (m === null) continue;
        read++;
        const text = Buffer.from(m.data).toString("latin1");
        for (const secret of secrets) assert.ok(!text.includes(secret), `message ${seq} (${m.subject}) holds a device secret`);
      }
      assert.ok(read >= keys.length, `read ${read} messages`);
    } finally {
      await nc.close();
    }
  });

  it("NATS restarted with its store lost: daemons notice the stream is behind them, republish their own routes (R9: products only by their owner), and the bucket is whole again", async () => {
    await nats.kill();
    rmSync(nats.storeDir, { recursive: true, force: true });
    mkdirSync(nats.storeDir, { recursive: true });
    await nats.start();
    const nc = await connect({ servers: nats.url });
    try {
      const kv = await waitFor(
        "the bucket to be recreated",
        async () => {
          try {
            const b = await new Kvm(nc).open("iotfed-routes");
            return (await b.status()).values > 0 ? b : undefined;
          } catch {
            return undefined;
          }
        },
        20000,
        200,
      );
      const devKey = keyOf({ kind: "device", route: { productKey: pk, deviceName: "trk-000", holder: "", generation: 0, nearest: false, committedBy: "", committedAt: 0 } });
      const prodKey = keyOf({ kind: "product", route: { productKey: pk, home: "", version: 0, deleted: false, candidates: [], accountId: "", productName: "", nodeType: "device", status: "developing", regionId: "", committedBy: "", committedAt: 0 } });
      const instKey = keyOf({ kind: "instance", route: { instanceId: C.id, regionId: "", mqttHost: "", mqttPort: 0, version: 0, certificates: [], peerAddress: "", kind: "", committedAt: 0 } });
      for (const key of [devKey, prodKey, instKey]) {
        await waitFor(`${key} to be republished`, async () => ((await kv.get(key))?.operation === "PUT" ? true : undefined), 20000, 200);
      }
      const dev = decodeRecord(devKey, (await kv.get(devKey))!.value);
      assert.ok(dev.kind === "device" && dev.route.holder === B.id, "the holder republished its device");
      const prod = decodeRecord(prodKey, (await kv.get(prodKey))!.value);
      assert.ok(prod.kind === "product" && prod.route.home === A.id, "the owner republished its product");
      assert.equal(prod.route.committedBy, A.id, "R9: only the owner publishes its product's record, never a copy's holder");
    } finally {
      await nc.close();
    }
    for (const d of [A.daemon, B.daemon, C.daemon]) assert.equal(await hostOf(d, pk, "trk-000"), B.mqtt.host);
  });
});
