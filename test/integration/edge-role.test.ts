import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { encodeRecord, keyOf } from "../../internal/replication/index.js";
import { endpointHost, freePort, metricSum, startFederation, tempDir, TestDaemon, waitFor, type AdminClient, type FederationMember } from "../support/daemon.js";
import { NatsServer } from "../support/nats.js";
import { distributeAndWait } from "../support/jobs.js";

const hostOf = (d: TestDaemon, pk: string, dn: string): Promise<string> => endpointHost(d, pk, dn);
const readyz = async (d: TestDaemon): Promise<{ status: number; reason?: string }> => {
  const r = await fetch(`http://${d.addresses!.metrics}/readyz`);
  const body = (await r.json()) as { reason?: string };
  return { status: r.status, ...(body.reason === undefined ? {} : { reason: body.reason }) };
};


/*
 * Stateless edges (docs/guides/device-edge.md "Stateless edges"): edge
 * processes of region cn-shanghai follow the routes bucket of a federation
 * of two daemons (real nats-server, real daemons, real edges with two
 * workers each) and answer bootstrap as the daemons do.
 */
describe("stateless edges (iotfedd --role edge) follow the routes bucket and answer bootstrap", function () {
  this.timeout(240000);
  let nats: NatsServer;
  let fed: Awaited<ReturnType<typeof startFederation>>;
  let A: FederationMember, B: FederationMember;
  let a: AdminClient;
  let pk: string;
  const edges: TestDaemon[] = [];
  const names = Array.from({ length: 10 }, (_, i) => `e-${String(i).padStart(3, "0")}`).concat(["odd.name@site:7"]);
  const edge = (n: number): TestDaemon => {
    const d = new TestDaemon({
      args: ["--role", "edge"],
      config: {
        region: { id: "cn-shanghai" },
        instance: { id: `edge-cn-shanghai-${n}` },
        replication: { servers: [nats.url], staleAfterMs: 1000 },
        edge: { workers: 2, caFile: join(fed.certDir, "ca.crt") },
      },
    });
    edges.push(d);
    return d;
  };

  before(async () => {
    nats = await NatsServer.start();
    fed = await startFederation(2, { config: { replication: { servers: [nats.url], staleAfterMs: 1000 } } });
    [A, B] = fed.members as [FederationMember, FederationMember];
    const accountId = (await A.daemon.ctlJson(["account", "create", "acme"])).account.accountId as string;
    a = A.daemon.admin(accountId);
    pk = (await a.createProduct({ productName: "Tracker" })).product!.productKey;
    assert.equal((await a.batchRegisterDevice({ productKey: pk, deviceNames: names })).successCount, names.length);
  });
  after(async () => {
    a?.close();
    for (const d of edges) await d.dispose();
    await fed?.dispose();
    await nats?.dispose();
  });

  it("two edges start, say ready once caught up, and answer a product's home for names they do not hold", async () => {
    const [e1, e2] = [edge(1), edge(2)];
    await Promise.all([e1.start(), e2.start()]);
    for (const e of [e1, e2]) {
      await waitFor("edge ready", async () => ((await readyz(e)).status === 200 ? true : undefined), 20000, 50);
      assert.ok(e.logs.some((l) => l.includes('"edge caught up with the routes stream: ready"')));
      assert.equal(await hostOf(e, pk, "e-001"), A.mqtt.host);
      assert.equal(await hostOf(e, "zzzzzzzzzzz", "e-001"), "HTTP 404");
      assert.match(await e.metrics(), /iotfed_edge_workers\{state="serving"\} 2/);
    }
  });

  it("a distribution at the daemon A→B is answered by both edges within the replication lag", async () => {
    const t0 = Date.now();
    await distributeAndWait(a, pk, B, ["e-000", "odd.name@site:7"]);
    const done = Date.now();
    for (const e of edges.slice(0, 2)) {
      await waitFor("the edge to answer B", async () => ((await hostOf(e, pk, "e-000")) === B.mqtt.host && (await hostOf(e, pk, "odd.name@site:7")) === B.mqtt.host ? true : undefined), 5000, 20);
    }
    const lag = Date.now() - done;
    assert.ok(lag < 5000, `answered ${lag} ms after the job completed (${done - t0} ms for the job)`);
    assert.equal(await hostOf(edges[0]!, pk, "e-001"), A.mqtt.host, "a device that did not move still answers its home");
  });

  it("an edge restarted while NATS is down answers from its snapshot, and says ready only once it has caught up again", async () => {
    const e1 = edges[0]!;
    assert.equal(await e1.stop(), 0);
    assert.ok(e1.logs.some((l) => l.includes("route snapshot written")));
    await nats.kill();
    await e1.start();
    const loaded = JSON.parse(e1.logs.find((l) => l.includes('"route table loaded"'))!) as { from: string };
    assert.equal(loaded.from, "snapshot");
    assert.equal(await hostOf(e1, pk, "e-000"), B.mqtt.host);
    assert.equal(await hostOf(e1, pk, "odd.name@site:7"), B.mqtt.host);
    assert.equal(await hostOf(e1, pk, "e-001"), A.mqtt.host);
    await new Promise((r) => setTimeout(r, 1000)); // several of readiness's looks
    const r = await readyz(e1);
    assert.equal(r.status, 503);
    assert.match(r.reason ?? "", /catching up/);
    await nats.start();
    await waitFor("edge ready after NATS is back", async () => ((await readyz(e1)).status === 200 ? true : undefined), 30000, 100);
  });

  it("an edge that joins late, while NATS is down, is not ready with nothing; once NATS is back it has every route when it first says ready", async () => {
    await distributeAndWait(a, pk, B, names.slice(1, 9));
    // The routes are in the stream (a running edge has them) before NATS goes.
    await waitFor("the routes in the stream", async () => ((await Promise.all(names.slice(1, 9).map((n) => hostOf(edges[1]!, pk, n)))).every((h) => h === B.mqtt.host) ? true : undefined), 10000, 50);
    await nats.kill();
    const late = edge(3);
    await late.start();
    await new Promise((r) => setTimeout(r, 1000));
    const r = await readyz(late);
    assert.equal(r.status, 503);
    assert.match(r.reason ?? "", /catching up/);
    assert.equal(await hostOf(late, pk, "e-000"), "HTTP 404", "it knows nothing yet");
    await nats.start();
    await waitFor("late edge ready", async () => ((await readyz(late)).status === 200 ? true : undefined), 30000, 10);
    const hosts = await Promise.all(names.map((n) => hostOf(late, pk, n)));
    assert.deepEqual(hosts, names.map((n) => (n === "e-009" ? A.mqtt.host : B.mqtt.host)));
  });

  it("a route record its owner did not sign is refused by every edge: the answer stays", async () => {
    const nc = await connect({ servers: nats.url });
    try {
      const kv = await new Kvm(nc).open("iotfed-routes");
      // e-009 never moved (no route of its own, so no daemon publishes over this one): the forgery says B holds it.
      const forged = { kind: "device" as const, route: { productKey: pk, deviceName: "e-009", holder: B.id, generation: 99, nearest: false, committedBy: B.id, committedAt: Date.now() } };
      const before = await Promise.all(edges.map((e) => metricSum(e, "iotfed_replication_refused_total")));
      const rev = await kv.put(keyOf(forged), encodeRecord(forged, B.id));
      for (const [i, e] of edges.entries()) {
        await waitFor("the forged record read", async () => ((await metricSum(e, "iotfed_replication_last_revision")) >= rev ? true : undefined), 10000, 50);
        assert.equal(await metricSum(e, "iotfed_replication_refused_total"), before[i]! + 1, "refused and counted");
        assert.equal(await hostOf(e, pk, "e-009"), A.mqtt.host);
      }
    } finally {
      await nc.close();
    }
  });
});

/*
 * The edges' NATS user (deploy/nats/iotfed-user.sh --edge) on a real
 * nats-server: it can read the routes bucket as an edge does, and cannot
 * write a record, change the stream or publish an event.
 */
describe("the edges' NATS user reads the routes bucket and writes nothing", function () {
  this.timeout(60000);
  const dir = tempDir("iotfed-edge-user-");
  let nats: NatsServer;

  before(async () => {
    const script = fileURLToPath(new URL("../../../deploy/nats/iotfed-user.sh", import.meta.url));
    const edgeUser = execFileSync("bash", [script, "--edge", "edge-sh"], { encoding: "utf8" }).replace('{ user: "edge-sh",', '{ user: "edge-sh", password: "edge-pw",');
    const conf = join(dir, "nats.conf");
    nats = new NatsServer(await freePort(), conf);
    writeFileSync(conf, `listen: 127.0.0.1:${nats.port}\njetstream { store_dir: "${join(dir, "js")}" }\nno_auth_user: daemon\nauthorization { users: [\n  { user: daemon, password: "not-used" }\n${edgeUser}] }\n`);
    await nats.start();
    const nc = await connect({ servers: nats.url });
    const kv = await new Kvm(nc).create("iotfed-routes", { history: 1 });
    await kv.put("dev.k.n", new TextEncoder().encode("a record"));
    await nc.close();
  });
  after(async () => {
    await nats?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("opens the bucket, reads a key and follows the stream with an ordered consumer; a put, a stream delete and an event are refused", async () => {
    const nc = await connect({ servers: nats.url, user: "edge-sh", pass: "edge-pw", inboxPrefix: "_INBOX_edge-sh" });
    try {
      const kv = await new Kvm(nc).open("iotfed-routes");
      assert.equal(new TextDecoder().decode((await kv.get("dev.k.n"))!.value), "a record");
      const consumer = await jetstream(nc).consumers.getPushConsumer("KV_iotfed-routes", { filter_subjects: "$KV.iotfed-routes.>", deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 1 });
      const messages = await consumer.consume();
      for await (const m of messages) {
        assert.equal(m.subject, "$KV.iotfed-routes.dev.k.n");
        break;
      }
      await messages.close();
      await assert.rejects(kv.put("dev.k.n", new TextEncoder().encode("forged")), /permission|timeout|no responders/i);
      await assert.rejects((await jetstreamManager(nc)).streams.delete("KV_iotfed-routes"), /permission|timeout|no responders/i);
      nc.publish("iotfed.jobs.edge-sh.done", new TextEncoder().encode("{}"));
      await nc.flush();
    } finally {
      await nc.close().catch(() => undefined);
    }
    await waitFor("the event's violation in the server's log", () => (/Publish Violation[^\n]*edge-sh[^\n]*iotfed\.jobs\.edge-sh\.done/.test(nats.log) ? true : undefined), 5000, 50);
    const daemon = await connect({ servers: nats.url });
    try {
      assert.equal(new TextDecoder().decode((await (await new Kvm(daemon).open("iotfed-routes")).get("dev.k.n"))!.value), "a record", "nothing was written");
    } finally {
      await daemon.close();
    }
  });
});
