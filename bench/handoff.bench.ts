/**
 * Handoff: a 1,000-device job from submit to `completed` between two real
 * daemons on loopback (mutual TLS, SQLite on both sides), against the
 * baseline of registering the same 1,000 devices at the target directly
 * (one BatchRegisterDevice call: the same rows written once, no peer hop).
 */
import { startFederation, waitFor } from "../test/support/daemon.js";
import { JobStatus } from "../internal/gen/iotfed/v1/admin_pb.js";

export interface HandoffBenchResult {
  devices: number;
  runs: { jobMs: number; baselineMs: number }[];
}

export async function benchHandoff(devices: number, runs: number): Promise<HandoffBenchResult> {
  const fed = await startFederation(2);
  const [A, B] = fed.members as [(typeof fed.members)[0], (typeof fed.members)[0]];
  const out: HandoffBenchResult = { devices, runs: [] };
  try {
    const acct = await A.daemon.ctlJson(["account", "create", "bench"]);
    const a = A.daemon.admin(acct.account.accountId);
    for (let run = 0; run < runs; run++) {
      const names = Array.from({ length: devices }, (_, i) => `r${run}-dev-${String(i).padStart(5, "0")}`);
      const pk = (await a.createProduct({ productName: `Bench ${run}` })).product!.productKey;
      await a.batchRegisterDevice({ productKey: pk, deviceNames: names });

      const t0 = process.hrtime.bigint();
      const job = (await a.createDeviceDistributeJob({ productKey: pk, targetInstanceId: B.id, deviceNames: names })).job!;
      const done = await waitFor(
        "job",
        async () => {
          const j = (await a.queryDeviceDistributeJob({ jobId: job.jobId })).job!;
          return j.status === JobStatus.COMPLETED || j.status === JobStatus.FAILED ? j : undefined;
        },
        120000,
        5,
      );
      const jobMs = Number(process.hrtime.bigint() - t0) / 1e6;
      if (done.succeeded !== devices) throw new Error(`job ended ${done.status} with ${done.succeeded} succeeded: ${done.message}`);

      // Baseline: the same devices written at the target by one local batch registration.
      const b = B.daemon.admin(acct.account.accountId);
      const bpk = (await b.createProduct({ productName: `Baseline ${run}` })).product!.productKey;
      const t1 = process.hrtime.bigint();
      const reg = await b.batchRegisterDevice({ productKey: bpk, deviceNames: names });
      const baselineMs = Number(process.hrtime.bigint() - t1) / 1e6;
      if (reg.successCount !== devices) throw new Error("baseline registration failed");
      b.close();
      out.runs.push({ jobMs, baselineMs });
    }
    a.close();
  } finally {
    await fed.dispose();
  }
  return out;
}
