import assert from "node:assert/strict";
import { JobStatus, DevicePlacement } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { waitFor, type AdminClient } from "./daemon.js";

export async function listAll(c: AdminClient, productKey: string) {
  const out = new Map<string, { placement: DevicePlacement; generation: bigint; holder: string }>();
  let pageToken = "";
  do {
    const r = await c.queryDevice({ productKey, pageSize: 1000, pageToken });
    for (const d of r.devices) out.set(d.deviceName, { placement: d.placement, generation: d.generation, holder: d.instanceId });
    pageToken = r.nextPageToken;
  } while (pageToken !== "");
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

export async function waitJob(c: () => AdminClient, jobId: string, timeoutMs = 90000) {
  return waitFor(
    `job ${jobId} to finish`,
    async () => {
      const j = (await c().queryDeviceDistributeJob({ jobId }).catch(() => undefined))?.job;
      return j !== undefined && (j.status === JobStatus.COMPLETED || j.status === JobStatus.FAILED) ? j : undefined;
    },
    timeoutMs,
    100,
  );
}

