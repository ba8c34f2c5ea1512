/**
 * Replication lag: from a route's commit at one daemon's store to its
 * visibility in another daemon's RouteTable, through a real nats-server
 * (JetStream, file storage) on loopback. Both sides run the daemon's own
 * code: the committing side's SQLite transaction (route + outbox row), its
 * compare-and-set publisher; the watching side's SQLite apply (with the
 * revision) and RouteTable update.
 *
 * Baseline, same server, same run, same pacing: a bare KV put observed by a
 * bare KV watch — what JetStream itself costs, with no store, no outbox and
 * no compare-and-set.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { createReplicationStore, openStore, type StoreEvents } from "../internal/store/index.js";
import { createEventHub } from "../internal/domain/index.js";
import { createRecordGate, createReplicator } from "../internal/replication/index.js";
import { createMembers, createVerifyPool } from "../internal/trust/index.js";
import { RouteTable } from "../internal/routes/index.js";
import { createMetrics } from "../internal/metrics/index.js";
import { createLogger } from "../internal/log/index.js";
import { NatsServer } from "../test/support/nats.js";
import { benchDeviceName } from "./names.js";

export interface LagStats {
  p50: number;
  p99: number;
  max: number;
  count: number;
}
const stats = (xs: number[]): LagStats => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: s[Math.floor(s.length * 0.5)]!, p99: s[Math.floor(s.length * 0.99)]!, max: s[s.length - 1]!, count: s.length };
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A gate for unsigned records (this bench measures the plane's lag, not signatures: see catchup.bench.ts). */
export function unsignedGate(records: ReturnType<typeof createReplicationStore>["records"], self: string) {
  return createRecordGate({
    members: createMembers({ caPem: undefined }),
    verifier: createVerifyPool(0),
    required: () => false,
    view: { self, device: (pk, dn) => records.deviceHead(pk, dn), productHome: (pk) => records.product(pk)?.home, accountHome: () => undefined, instanceVersion: () => 0 },
  });
}

export async function benchReplication(updates: number, intervalMs: number): Promise<{ ours: LagStats; baseline: LagStats }> {
  const nats = await NatsServer.start();
  const dirs = [mkdtempSync(join(tmpdir(), "iotfed-bench-repl-a-")), mkdtempSync(join(tmpdir(), "iotfed-bench-repl-b-"))];
  const logger = createLogger("silent");
  try {
    // ---- ours
    const a = openStore(dirs[0]!).db;
    const b = openStore(dirs[1]!).db;
    const hubA = createEventHub<StoreEvents>();
    const hubB = createEventHub<StoreEvents>();
    const storeA = createReplicationStore(a, hubA);
    const storeB = createReplicationStore(b, hubB);
    const routesA = storeA.records;
    const table = new RouteTable();
    const committed = new Map<string, number>();
    const lags: number[] = [];
    const repB = createReplicator({
      servers: [nats.url], bucket: "bench-routes", replicas: 1, self: "iot-b-1", signingKey: undefined, gate: unsignedGate(storeB.records, "iot-b-1"), records: storeB.records, outbox: storeB.outbox, hub: hubB, publishBatch: 256, staleAfterMs: 5000,
      metrics: createMetrics(), logger,
      onApplied(changes) {
        for (const c of changes) {
          if (c.kind !== "device") continue;
          table.setDevice(c.route.productKey, c.route.deviceName, c.route.holder, false);
          const t = committed.get(c.route.deviceName);
          if (t !== undefined) lags.push(performance.now() - t);
        }
      },
    });
    const repA = createReplicator({
      servers: [nats.url], bucket: "bench-routes", replicas: 1, self: "iot-a-1", signingKey: undefined, gate: unsignedGate(storeA.records, "iot-a-1"), records: storeA.records, outbox: storeA.outbox, hub: hubA, publishBatch: 256, staleAfterMs: 5000,
      metrics: createMetrics(), logger, onApplied() {},
    });
    repA.start();
    repB.start();
    // Warm up: one route through, both sides connected and watching.
    const commit = (dn: string, generation: number): void => {
      committed.set(dn, performance.now());
      a.transaction(() =>
        routesA.commit({ kind: "device", route: { productKey: "pk000000001", deviceName: dn, holder: "iot-a-1", generation, nearest: false, committedBy: "iot-a-1", committedAt: Date.now() } }, true),
      )();
    };
    commit("warm-up-1", 1);
    const t0 = Date.now();
    while (table.deviceHolder("pk000000001", "warm-up-1") === undefined && Date.now() - t0 < 20000) await sleep(10);
    lags.length = 0;
    for (let i = 0; i < updates; i++) {
      commit(benchDeviceName(i), 1);
      await sleep(intervalMs);
    }
    const t1 = Date.now();
    while (lags.length < updates && Date.now() - t1 < 30000) await sleep(10);
    if (lags.length < updates) throw new Error(`only ${lags.length} of ${updates} updates arrived`);
    const ours = stats(lags);
    await repA.stop();
    await repB.stop();
    a.close();
    b.close();

    // ---- baseline: bare KV put → bare KV watch
    const nc = await connect({ servers: nats.url });
    const kv = await new Kvm(nc).create("bench-bare", { history: 1 });
    const sent = new Map<string, number>();
    const bare: number[] = [];
    const w = await kv.watch({ key: ">" });
    void (async () => {
      for await (const e of w) {
        const t = sent.get(e.key);
        if (t !== undefined) bare.push(performance.now() - t);
      }
    })();
    const payload = new Uint8Array(70);
    for (let i = 0; i < updates; i++) {
      const key = `dev.pk000000001.d${i}`;
      sent.set(key, performance.now());
      void kv.put(key, payload);
      await sleep(intervalMs);
    }
    const t2 = Date.now();
    while (bare.length < updates && Date.now() - t2 < 30000) await sleep(10);
    w.stop();
    await nc.close();
    return { ours, baseline: stats(bare) };
  } finally {
    await nats.dispose();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}
