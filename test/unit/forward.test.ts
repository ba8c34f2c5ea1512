import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { QueryDeviceDistributeJobRequestSchema, QueryDeviceDistributeJobResponseSchema, CreateAccountRequestSchema } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { createForwardedJobCalls } from "../../internal/admin/index.js";
import type { AdminContext } from "../../internal/admin/index.js";

/**
 * A peer may forward an account's job calls (one view of every instance's
 * jobs), and nothing else: account management, tokens, backups and the
 * rest of the admin API never run for a peer.
 */
describe("forwarded job calls (peer plane)", () => {
  const seen: { method: string; ctx: AdminContext }[] = [];
  const service = new Proxy({}, {
    get: (_t, method: string) => (_req: unknown, ctx: AdminContext) => {
      seen.push({ method, ctx });
      return method === "queryDeviceDistributeJob" ? { job: { jobId: "job_x" } } : {};
    },
  });
  const run = createForwardedJobCalls(service as never);

  it("runs a job call through this daemon's own handler, as the account the peer named, never as the operator", async () => {
    const out = await run("iot-b", "1234567890", "QueryDeviceDistributeJob", toBinary(QueryDeviceDistributeJobRequestSchema, create(QueryDeviceDistributeJobRequestSchema, { jobId: "job_x" })), "10.0.0.9");
    assert.equal(fromBinary(QueryDeviceDistributeJobResponseSchema, out).job?.jobId, "job_x");
    assert.equal(seen.at(-1)!.method, "queryDeviceDistributeJob");
    assert.deepEqual(seen.at(-1)!.ctx.principal, { kind: "account", accountId: "1234567890", tokenId: "peer:iot-b" });
  });

  it("refuses every other admin call, and an account id that is not one", async () => {
    const n = seen.length;
    await assert.rejects(run("iot-b", "1234567890", "CreateAccount", toBinary(CreateAccountRequestSchema, create(CreateAccountRequestSchema, { accountName: "x" })), ""), /method: CreateAccount is not a job call that can be forwarded/);
    await assert.rejects(run("iot-b", "1234567890", "Backup", new Uint8Array(), ""), /method: Backup/);
    await assert.rejects(run("iot-b", "", "QueryDeviceDistributeJob", new Uint8Array(), ""), /account_id/);
    assert.equal(seen.length, n, "no handler ran");
  });
});
