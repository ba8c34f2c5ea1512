/**
 * Soak: bootstrap under sustained load for a bounded time while distribution
 * jobs run back and forth between two daemons (mutual TLS, NATS routes).
 * Reports throughput and p99 per window and the server's memory at start and
 * end; the baseline is the same daemon's first window (what it does fresh).
 */
import { startFederation, waitFor } from "../test/support/daemon.js";
import { NatsServer } from "../test/support/nats.js";
import { JobStatus } from "../internal/gen/iotfed/v1/admin_pb.js";
import { bootstrapRequest, load } from "./load.js";

export interface SoakWindow {
  second: number;
  requests: number;
  rate: number;
  p99: number;
  non200: number;
  rssMiB: number;
  heapMiB: number;
}

export interface SoakResult {
  windows: SoakWindow[];
  jobs: number;
  devicesMoved: number;
}

async function memory(metricsAddr: string): Promise<{ rss: number; heap: number }> {
  const text = await (await fetch(`http://${metricsAddr}/metrics`)).text();
  const v = (n: string) => Number(new RegExp(`^${n} (\\d+(?:\\.\\d+)?)`, "m").exec(text)?.[1] ?? NaN) / 1048576;
  return { rss: v("process_resident_memory_bytes"), heap: v("nodejs_heap_size_used_bytes") };
}

export async function benchSoak(seconds: number, windowSeconds: number): Promise<SoakResult> {
  const nats = await NatsServer.start();
  const fed = await startFederation(2, { config: { replication: { servers: [nats.url] } } });
  const [A, B] = fed.members as [(typeof fed.members)[0], (typeof fed.members)[0]];
  const result: SoakResult = { windows: [], jobs: 0, devicesMoved: 0 };
  try {
    const acct = await A.daemon.ctlJson(["account", "create", "soak"]);
    const a = A.daemon.admin(acct.account.accountId);
    const b = B.daemon.admin(acct.account.accountId);
    const pk = (await a.createProduct({ productName: "Soak" })).product!.productKey;
    const devices = Array.from({ length: 20_000 }, (_, i) => `soak-${String(i).padStart(6, "0")}`);
    for (let i = 0; i < devices.length; i += 1000) await a.batchRegisterDevice({ productKey: pk, deviceNames: devices.slice(i, i + 1000) });

    // distributions: 500 devices A→B, then back B→A, over and over, until the time is up
    const deadline = Date.now() + seconds * 1000;
    const mover = (async () => {
      for (let round = 0; Date.now() < deadline; round++) {
        // the same slice goes A→B, then comes back B→A; then the next slice
        const k = Math.floor(round / 2) % 20;
        const slice = devices.slice(k * 500, k * 500 + 500);
        const [from, id] = round % 2 === 0 ? [a, B.id] : [b, A.id];
        const j = (await from.createDeviceDistributeJob({ productKey: pk, targetInstanceId: id, deviceNames: slice })).job!;
        const done = await waitFor("job", async () => {
          const x = (await from.queryDeviceDistributeJob({ jobId: j.jobId })).job!;
          return x.status === JobStatus.COMPLETED || x.status === JobStatus.FAILED ? x : undefined;
        }, 120000, 50);
        if (done.succeeded !== slice.length) throw new Error(`soak job moved ${done.succeeded} of ${slice.length}: ${done.message}`);
        result.jobs++;
        result.devicesMoved += done.succeeded;
      }
    })();

    const port = Number(A.daemon.addresses!.bootstrap.split(":").pop());
    const start = Date.now();
    let n = 0;
    while (deadline - Date.now() > (windowSeconds * 1000) / 2) {
      const r = await load({
        port,
        total: 10_000_000,
        conns: 32,
        maxSeconds: Math.min(windowSeconds, Math.max(1, (deadline - Date.now()) / 1000)),
        request: () => {
          const d = devices[(Math.imul(++n, 2654435761) >>> 0) % devices.length]!;
          return bootstrapRequest(pk, d);
        },
      });
      const m = await memory(A.daemon.addresses!.metrics);
      result.windows.push({ second: Math.round((Date.now() - start) / 1000), requests: r.requests, rate: r.requests / r.seconds, p99: r.p99, non200: r.non200, rssMiB: m.rss, heapMiB: m.heap });
    }
    await mover;
    a.close();
    b.close();
    return result;
  } finally {
    await fed.dispose();
    await nats.dispose();
  }
}
