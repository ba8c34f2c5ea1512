/**
 * Catching up from the routes stream with signatures checked
 * (docs/operating/security.md "Verification"): a fresh daemon's
 * replicator reads a bucket of N device routes, each carrying its release
 * as ConfirmHandoff makes them — a Merkle path, and per batch of 250 the
 * previous holder's signed root and the holder's signed acceptance of it —
 * checks every one (worker threads, one per core) and applies them to its
 * SQLite store.
 *
 * Baseline, same nats-server, same run: the same N routes unsigned, applied
 * by the same replicator with nothing to check (the rolling-upgrade mode).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir, availableParallelism } from "node:os";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { jetstream } from "@nats-io/jetstream";
import { createReplicationStore, openStore, type StoreEvents } from "../internal/store/index.js";
import { createEventHub, type RouteChange } from "../internal/domain/index.js";
import { createRecordGate, createReplicator, encodeRecord, keyOf, sealRecord } from "../internal/replication/index.js";
import { createMembers, createVerifyPool, releaseProofs, signingKeyFrom, signReleases, type SigningKey } from "../internal/trust/index.js";
import { createMetrics } from "../internal/metrics/index.js";
import { createLogger } from "../internal/log/index.js";
import { NatsServer } from "../test/support/nats.js";
import { makeCerts } from "../test/support/daemon.js";
import { benchDeviceName, benchProductKey } from "./names.js";

const HOME = "iot-cn-shanghai-1";
const HOLDERS = ["iot-ap-southeast-1-1", "iot-eu-central-1-1", "iot-us-west-1-1"];
const BATCH = 250;

/** The bucket's records: instance records, 1,000 product routes, then N device routes (signed, or not). */
function* records(n: number, keys: Map<string, SigningKey> | undefined): Generator<[string, Uint8Array]> {
  const t = Date.now();
  const seal = (c: RouteChange, by: string): Uint8Array => (keys === undefined ? encodeRecord(c, by) : sealRecord(c, by, keys.get(by)));
  for (const id of [HOME, ...HOLDERS]) {
    const c: RouteChange = { kind: "instance", route: { instanceId: id, regionId: "cn-shanghai", mqttHost: `mqtt.${id}.example.com`, mqttPort: 1883, version: t, certificates: keys === undefined ? [] : [keys.get(id)!.certificate], peerAddress: "", kind: "public", committedAt: t } };
    yield [keyOf(c), seal(c, id)];
  }
  for (let p = 0; p < 1000; p++) {
    const c: RouteChange = { kind: "product", route: { productKey: benchProductKey(p), home: HOME, version: 1, deleted: false, candidates: [], accountId: "1234567890123456", productName: `p${p}`, nodeType: "device", status: "published", regionId: "cn-shanghai", committedBy: HOME, committedAt: t } };
    yield [keyOf(c), seal(c, HOME)];
  }
  for (let start = 0; start < n; start += BATCH) {
    // One confirm batch: devices of one product, released by the home to one holder.
    const holder = HOLDERS[(start / BATCH) % HOLDERS.length]!;
    const pk = benchProductKey((start / BATCH) % 1000);
    const devices = Array.from({ length: Math.min(BATCH, n - start) }, (_, i) => ({ deviceName: benchDeviceName(start + i), generation: 1 }));
    const proofs = keys === undefined ? undefined : releaseProofs(HOME, { productKey: pk, to: holder, account: "1234567890123456", nearest: false }, devices, signReleases(keys.get(HOME)!, { productKey: pk, to: holder, account: "1234567890123456", nearest: false }, devices), keys.get(holder)).proofs;
    for (const [i, d] of devices.entries()) {
      const c: RouteChange = { kind: "device", route: { productKey: pk, deviceName: d.deviceName, holder, generation: 1, nearest: false, release: proofs?.[i], committedBy: holder, committedAt: t } };
      yield [keyOf(c), seal(c, holder)];
    }
  }
}

export interface CatchupResult {
  records: number;
  bucketBytes: number;
  ms: number;
  refused: number;
}

export async function benchCatchup(n: number): Promise<{ signed: CatchupResult; unsigned: CatchupResult; threads: number; writeMs: number }> {
  const nats = await NatsServer.start();
  const work = mkdtempSync(join(tmpdir(), "iotfed-bench-catchup-"));
  const logger = createLogger("silent");
  try {
    const certs = makeCerts(join(work, "certs"), [HOME, ...HOLDERS]);
    const keys = new Map([HOME, ...HOLDERS].map((id) => [id, signingKeyFrom(id, readFileSync(certs.cert(id)), readFileSync(certs.key(id)))]));
    const nc = await connect({ servers: nats.url });
    const js = jetstream(nc);
    const fill = async (bucket: string, signed: boolean): Promise<{ last: number; bytes: number }> => {
      await new Kvm(nc).create(bucket, { history: 1 });
      let inflight: Promise<unknown>[] = [];
      let bytes = 0;
      for (const [key, value] of records(n, signed ? keys : undefined)) {
        bytes += value.length;
        inflight.push(js.publish(`$KV.${bucket}.${key}`, value));
        if (inflight.length >= 4000) {
          await Promise.all(inflight);
          inflight = [];
        }
      }
      await Promise.all(inflight);
      return { last: (await (await new Kvm(nc).open(bucket)).status()).streamInfo.state.last_seq, bytes };
    };
    const t0 = performance.now();
    const signedBucket = await fill("catchup-signed", true);
    const unsignedBucket = await fill("catchup-unsigned", false);
    const writeMs = performance.now() - t0;
    await nc.close();

    const threads = availableParallelism();
    const catchUp = async (bucket: string, last: number, required: boolean): Promise<{ ms: number; refused: number }> => {
      const dir = mkdtempSync(join(work, "store-"));
      const db = openStore(dir).db;
      const hub = createEventHub<StoreEvents>();
      const store = createReplicationStore(db, hub);
      const members = createMembers({ caPem: readFileSync(certs.ca) });
      const verifier = createVerifyPool(threads);
      const metrics = createMetrics();
      const gate = createRecordGate({
        members,
        verifier,
        required: () => required,
        view: {
          self: "iot-fresh-1",
          device: (pk, dn) => store.records.deviceHead(pk, dn),
          productHome: (pk) => store.records.product(pk)?.home,
          accountHome: (id) => store.records.account(id)?.home,
          instanceVersion: (id) => store.records.instance(id)?.version ?? 0,
        },
      });
      const rep = createReplicator({
        servers: [nats.url], bucket, replicas: 1, self: "iot-fresh-1", signingKey: undefined, gate, records: store.records, outbox: store.outbox, hub,
        publishBatch: 256, staleAfterMs: 60000, metrics, logger, onApplied() {},
      });
      const t = performance.now();
      rep.start();
      while (store.records.lastRevision() < last && performance.now() - t < 600_000) await new Promise((r) => setTimeout(r, 20));
      const ms = performance.now() - t;
      await rep.stop();
      await verifier.close();
      const refused = (await metrics.registry.getSingleMetric("iotfed_replication_refused_total")?.get())?.values.reduce((s, v) => s + v.value, 0) ?? 0;
      const applied = store.records.counts().devices;
      db.close();
      if (applied !== n) throw new Error(`${bucket}: ${applied} of ${n} device routes applied`);
      return { ms, refused };
    };
    const unsigned = await catchUp("catchup-unsigned", unsignedBucket.last, false);
    const signed = await catchUp("catchup-signed", signedBucket.last, true);
    return {
      signed: { records: signedBucket.last, bucketBytes: signedBucket.bytes, ...signed },
      unsigned: { records: unsignedBucket.last, bucketBytes: unsignedBucket.bytes, ...unsigned },
      threads,
      writeMs,
    };
  } finally {
    await nats.dispose();
    rmSync(work, { recursive: true, force: true });
  }
}
