import assert from "node:assert/strict";
import { join } from "node:path";
import Database from "better-sqlite3";
import * as grpc from "@grpc/grpc-js";
import { JobStatus } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { STORE_FILE } from "../../internal/store/index.js";
import { bootstrap, startFederation, TestDaemon, waitFor, type AdminClient, type FederationMember } from "../support/daemon.js";
import { assertOneHolderEach, listAll, waitJob } from "../support/jobs.js";
import { NatsServer } from "../support/nats.js";

const names = (n: number, prefix = "dev") => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(4, "0")}`);
const hostOf = async (m: FederationMember, pk: string, dn: string): Promise<string> => {
  const r = await bootstrap(m.daemon.addresses!.bootstrap, `productKey=${pk}&deviceName=${dn}&resources=mqtt`);
  return r.status === 200 ? (r.json.data.resources.mqtt.host as string) : `HTTP ${r.status}`;
};

/** Every device of `list` is answered with `host` by `m` (routes converged there). */
let lastMismatch = "";
async function allAnswer(m: FederationMember, pk: string, list: readonly string[], host: string): Promise<boolean> {
  for (const dn of list) {
    const h = await hostOf(m, pk, dn);
    if (h !== host) {
      lastMismatch = `${dn} -> ${h}`;
      return false;
    }
  }
  return true;
}

/**
 * The fault suite (`npm run test:faults`, also in CI): real processes,
 * SIGKILL, a NATS server killed mid-stream, a store that runs out of space.
 * Each test names the invariant it checks. The source and target crash
 * tests and the retry-window test are in handoff-faults.test.ts.
 */
describe("faults: bystanders, NATS and a full store", function () {
  this.timeout(240000);

  /**
   * Three daemons and one nats-server; `count` devices registered at A, a
   * job A→B started; `fault` runs once the job is partway (at least
   * `partway` devices handed off); then the job must complete, every device
   * have exactly one holder, and C answer B for every device.
   */
  async function jobUnderFault(count: number, partway: number, fault: (x: { nats: NatsServer; C: FederationMember }) => Promise<void>, afterJob: (x: { nats: NatsServer; C: FederationMember }) => Promise<void>): Promise<void> {
    const nats = await NatsServer.start();
    const fed = await startFederation(3, { peer: { batchSize: 25 }, config: { replication: { servers: [nats.url], staleAfterMs: 1000 } } });
    const [A, B, C] = fed.members as [FederationMember, FederationMember, FederationMember];
    let a: AdminClient | undefined;
    let b: AdminClient | undefined;
    try {
      const accountId = (await A.daemon.ctlJson(["account", "create", "acme"])).account.accountId as string;
      a = A.daemon.admin(accountId);
      b = B.daemon.admin(accountId);
      const pk = (await a.createProduct({ productName: "Sensor" })).product!.productKey;
      const list = names(count);
      assert.equal((await a.batchRegisterDevice({ productKey: pk, deviceNames: list })).successCount, count);
      const job = await a.createDeviceDistributeJob({ productKey: pk, targetInstanceId: B.id, deviceNames: list });
      await waitFor("the job partway", async () => ((await a!.queryDeviceDistributeJob({ jobId: job.job!.jobId })).job!.succeeded >= partway ? true : undefined), 30000, 10);
      await fault({ nats, C });
      // the peer plane needs neither the bystander nor NATS: the job completes
      const done = await waitJob(() => a!, job.job!.jobId);
      assert.equal(done.status, JobStatus.COMPLETED);
      assert.equal(done.succeeded, count);
      await assertOneHolderEach(a, b, pk, B.id, list);
      await afterJob({ nats, C });
      await waitFor("C to answer B for every device", async () => ((await allAnswer(C, pk, list, B.mqtt.host)) ? true : undefined), 60000, 250).catch((e: Error) => {
        throw new Error(`${e.message}; the last device answered otherwise: ${lastMismatch}`);
      });
    } finally {
      a?.close();
      b?.close();
      await fed.dispose();
      await nats.dispose();
    }
  }

  it("invariant: every device at exactly one holder, and routes converge at every daemon — a bystander SIGKILLed in the middle of a job", async () => {
    await jobUnderFault(
      1000,
      100,
      ({ C }) => C.daemon.kill(),
      async ({ C }) => {
        await C.daemon.start();
      },
    );
  });

  it("invariant: routes converge — NATS SIGKILLed while a job publishes its routes, restarted on the same store", async () => {
    await jobUnderFault(
      500,
      50,
      ({ nats }) => nats.kill(),
      ({ nats }) => nats.start(),
    );
  });

  it("invariant: a full store refuses the change whole with a clear error, corrupts nothing, and keeps serving", async () => {
    const d = new TestDaemon({ config: { limits: { storeMaxBytes: 2 * 1024 * 1024 } } });
    await d.start();
    const c = d.admin();
    try {
      const accountId = (await d.ctlJson(["account", "create", "acme"])).account.accountId as string;
      const a = d.admin(accountId);
      const pk = (await a.createProduct({ productName: "Sensor" })).product!.productKey;
      let registered = 0;
      let refusal: grpc.ServiceError | undefined;
      for (let batch = 0; batch < 200 && refusal === undefined; batch++) {
        try {
          const r = await a.batchRegisterDevice({ productKey: pk, deviceNames: names(500, `b${String(batch).padStart(3, "0")}`) });
          registered += r.successCount;
        } catch (e) {
          refusal = e as grpc.ServiceError;
        }
      }
      assert.ok(refusal !== undefined, "the store filled up");
      assert.equal(refusal.code, grpc.status.RESOURCE_EXHAUSTED, refusal.details);
      assert.match(refusal.details, /store is full.*nothing was changed/);
      // the refused batch left nothing behind: the count is whole batches
      assert.equal((await listAll(a, pk)).size, registered);
      assert.equal(registered % 500, 0);
      // still serving: bootstrap of a registered device, reads
      const r = await bootstrap(d.addresses!.bootstrap, `productKey=${pk}&deviceName=b000-0001`);
      assert.equal(r.status, 200);
      const db = new Database(join(d.dataDir, STORE_FILE), { readonly: true });
      try {
        assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
      } finally {
        db.close();
      }
      a.close();
      console.log(`      (${registered} devices registered before the 2 MiB store was full)`);
    } finally {
      c.close();
      await d.dispose();
    }
  });
});
