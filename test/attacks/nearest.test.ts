import assert from "node:assert/strict";
import { startFederation, waitFor, type FederationMember } from "../support/daemon.js";
import { NatsServer } from "../support/nats.js";
import { waitJob } from "../support/jobs.js";
import { AMERICA, bootstrapFrom, EUROPE, GEO_OVERRIDES } from "../support/geo.js";
import { JobStatus } from "../../internal/gen/iotfed/v1/admin_pb.js";

/*
 * Anyone who knows a ProductKey and DeviceName can bootstrap it from where
 * they like. Bootstrapping a nearest-placed device alternately from two
 * continents must not make it bounce between regions (each move is a
 * handoff and cuts the real device's session): the move budget
 * (placement.minMoveIntervalMs, default 10 minutes) lets it move once.
 */
describe("attack on the nearest strategy (R3): a device bootstrapped alternately from two continents moves at most its budget", function () {
  this.timeout(120000);
  let nats: NatsServer;
  let fed: Awaited<ReturnType<typeof startFederation>>;
  let SH: FederationMember, EU: FederationMember, US: FederationMember;

  before(async () => {
    nats = await NatsServer.start();
    fed = await startFederation(3, {
      regions: ["cn-shanghai", "eu-central-1", "us-west-1"],
      config: { replication: { servers: [nats.url] }, geo: { overrides: GEO_OVERRIDES }, placement: { waitMs: 5000 } },
    });
    [SH, EU, US] = fed.members as [FederationMember, FederationMember, FederationMember];
  });
  after(async () => {
    await fed?.dispose();
    await nats?.dispose();
  });

  it("20 bootstraps, Europe and America in turn: one move, to the first continent; the rest answered by the holder and counted", async () => {
    const accountId = (await SH.daemon.ctlJson(["account", "create", "acme"])).account.accountId as string;
    const a = SH.daemon.admin(accountId);
    try {
      const pk = (await a.createProduct({ productName: "Tracker" })).product!.productKey;
      await a.registerDevice({ productKey: pk, deviceName: "bouncer-1" });
      const job = (await a.createDeviceDistributeJob({ productKey: pk, strategy: "nearest", candidates: [SH, EU, US].map((m) => ({ regionId: m.region, instanceId: m.id })), deviceNames: ["bouncer-1"] })).job!;
      assert.equal((await waitJob(a, job.jobId)).status, JobStatus.COMPLETED);
      await waitFor("the copies at every candidate", async () => ((await bootstrapFrom(US.daemon.addresses!.bootstrap, pk, "bouncer-1", EUROPE)) === EU.mqtt.host ? true : undefined), 20000, 200);
      const answers: string[] = [];
      for (let i = 0; i < 19; i++) {
        const m = [SH, EU, US][i % 3]!;
        answers.push(await bootstrapFrom(m.daemon.addresses!.bootstrap, pk, "bouncer-1", i % 2 === 0 ? AMERICA : EUROPE));
      }
      assert.deepEqual(new Set(answers), new Set([EU.mqtt.host]), "every answer names the one holder");
      const generation = async (m: FederationMember): Promise<bigint> => {
        const c = m.daemon.admin(accountId);
        try {
          return (await c.queryDeviceProvisioning({ productKey: pk, deviceName: "bouncer-1" })).generation;
        } finally {
          c.close();
        }
      };
      const g = await generation(EU);
      assert.equal(g, 2n, "marked nearest (1), moved once (2)");
      const overBudget = (await EU.daemon.metrics()).split("\n").find((l) => l.startsWith("iotfed_placements_over_budget_total "));
      assert.ok(overBudget !== undefined && Number(overBudget.split(" ")[1]) >= 1, "refusals counted at the holder");
    } finally {
      a.close();
    }
  });
});
