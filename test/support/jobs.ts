import assert from "node:assert/strict";
import { JobStatus, DevicePlacement } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { waitFor, type AdminClient } from "./daemon.js";

/** Every device of a product at one daemon, all pages. */
export async function allDevices(c: AdminClient, productKey: string) {
  const out = [];
  let pageToken = "";
  do {
    const r = await c.queryDevice({ productKey, pageSize: 1000, pageToken });
    out.push(...r.devices);
    pageToken = r.nextPageToken;
  } while (pageToken !== "");
  return out;
}

/** Every device of a product at one daemon by name: where it is and at which generation. */
export async function listAll(c: AdminClient, productKey: string) {
  const out = new Map<string, { placement: DevicePlacement; generation: bigint; holder: string }>();
  for (const d of await allDevices(c, productKey)) out.set(d.deviceName, { placement: d.placement, generation: d.generation, holder: d.instanceId });
  return out;
}

/**
 * The invariant of the handoff: every device is held by exactly one
 * instance, at one generation, and none exists twice or nowhere.
 */
export async function assertOneHolderEach(src: AdminClient, dst: AdminClient, productKey: string, dstId: string, NAMES: readonly string[], generation = 1n): Promise<void> {
  const atSrc = await listAll(src, productKey);
  const atDst = await listAll(dst, productKey);
  assert.equal(atSrc.size, NAMES.length, "the source keeps a row for every device (runtime data, R10)");
  assert.equal(atDst.size, NAMES.length, "every device arrived");
  for (const n of NAMES) {
    const s = atSrc.get(n)!;
    const d = atDst.get(n)!;
    const holders = [s, d].filter((x) => x.placement === DevicePlacement.HERE).length;
    assert.equal(holders, 1, `${n} is held by exactly one instance`);
    assert.equal(s.placement, DevicePlacement.AWAY, n);
    assert.equal(s.holder, dstId, n);
    assert.equal(s.generation, generation, n);
    assert.equal(d.generation, generation, n);
  }
}

/** Polls a job until it is completed or failed; `c` may be a function when the daemon restarts meanwhile. */
export async function waitJob(c: AdminClient | (() => AdminClient), jobId: string, timeoutMs = 90000) {
  const client = typeof c === "function" ? c : () => c;
  return waitFor(
    `job ${jobId} to finish`,
    async () => {
      const j = (await client().queryDeviceDistributeJob({ jobId }).catch(() => undefined))?.job;
      return j !== undefined && (j.status === JobStatus.COMPLETED || j.status === JobStatus.FAILED) ? j : undefined;
    },
    timeoutMs,
    100,
  );
}


/** Distributes devices of `productKey` to the member `to` (specified strategy) and waits until the job completed. */
export async function distributeAndWait(a: AdminClient, productKey: string, to: { region: string; id: string }, deviceNames: string[]): Promise<void> {
  const r = await a.createDeviceDistributeJob({ productKey, targetRegionId: to.region, targetInstanceId: to.id, deviceNames });
  const job = await waitJob(a, r.job!.jobId, 60000);
  assert.equal(job.status, JobStatus.COMPLETED, job.message);
}
