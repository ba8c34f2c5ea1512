/**
 * Cross-account distribution: a 1,000-device job to another account — the
 * code asked for at the target, read by the receiving account, redeemed by
 * the job, every handoff checked against the redemption — from the request
 * for a code to `completed`, against the baseline of the same-account job of
 * as many devices between the same two daemons, alternated run by run.
 */
import { startFederation, waitFor, type AdminClient } from "../test/support/daemon.js";
import { NatsServer } from "../test/support/nats.js";
import { JobStatus } from "../internal/gen/iotfed/v1/admin_pb.js";

export interface CrossAccountBenchResult {
  devices: number;
  runs: { crossMs: number; codeMs: number; sameMs: number }[];
}

async function finish(c: AdminClient, jobId: string, devices: number): Promise<void> {
  const done = await waitFor(
    "job",
    async () => {
      const j = (await c.queryDeviceDistributeJob({ jobId })).job!;
      return j.status === JobStatus.COMPLETED || j.status === JobStatus.FAILED ? j : undefined;
    },
    120000,
    5,
  );
  if (done.succeeded !== devices) throw new Error(`job ended ${done.status} with ${done.succeeded} succeeded: ${done.message}`);
}

export async function benchCrossAccount(devices: number, runs: number): Promise<CrossAccountBenchResult> {
  const nats = await NatsServer.start();
  const fed = await startFederation(2, { config: { replication: { servers: [nats.url] } } });
  const [A, B] = fed.members as [(typeof fed.members)[0], (typeof fed.members)[0]];
  const out: CrossAccountBenchResult = { devices, runs: [] };
  const clients: AdminClient[] = [];
  try {
    const alice = (await A.daemon.ctlJson(["account", "create", "bench-source"])).account.accountId as string;
    const bob = (await A.daemon.ctlJson(["account", "create", "bench-target"])).account.accountId as string;
    await waitFor("the account directory at B", async () => ((await B.daemon.admin().queryAccountList({ pageSize: 100 })).accounts.some((x) => x.accountId === bob) ? true : undefined), 20000, 50);
    const a = A.daemon.admin(alice);
    const b = B.daemon.admin(bob);
    clients.push(a, b);
    for (let run = 0; run < runs; run++) {
      const mk = async (tag: string) => {
        const names = Array.from({ length: devices }, (_, i) => `${tag}${run}-dev-${String(i).padStart(5, "0")}`);
        const pk = (await a.createProduct({ productName: `Bench ${tag} ${run}` })).product!.productKey;
        await a.batchRegisterDevice({ productKey: pk, deviceNames: names });
        return { pk, names };
      };
      const x = await mk("x");
      const s = await mk("s");
      const cross = async (): Promise<{ ms: number; codeMs: number }> => {
        const t0 = process.hrtime.bigint();
        await a.requestAuthCode({ targetAccountId: bob, targetRegionId: B.region, targetInstanceId: B.id });
        const code = (await b.listAuthCodes({})).codes.find((c) => c.state === "live")!.code;
        const codeMs = Number(process.hrtime.bigint() - t0) / 1e6;
        const job = (await a.createDeviceDistributeJob({ productKey: x.pk, targetInstanceId: B.id, deviceNames: x.names, targetAccountId: bob, authCode: code })).job!;
        await finish(a, job.jobId, devices);
        return { ms: Number(process.hrtime.bigint() - t0) / 1e6, codeMs };
      };
      const same = async (): Promise<number> => {
        const t0 = process.hrtime.bigint();
        const job = (await a.createDeviceDistributeJob({ productKey: s.pk, targetInstanceId: B.id, deviceNames: s.names })).job!;
        await finish(a, job.jobId, devices);
        return Number(process.hrtime.bigint() - t0) / 1e6;
      };
      // Alternate which goes first, so warm-up and growth fall on both.
      let c: { ms: number; codeMs: number };
      let sm: number;
      if (run % 2 === 0) {
        c = await cross();
        sm = await same();
      } else {
        sm = await same();
        c = await cross();
      }
      out.runs.push({ crossMs: c.ms, codeMs: c.codeMs, sameMs: sm });
    }
  } finally {
    for (const c of clients) c.close();
    await fed.dispose();
    await nats.dispose();
  }
  return out;
}
