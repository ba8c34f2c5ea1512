import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { bootstrap, startFederation, waitFor, type AdminClient, type FederationMember } from "../support/daemon.js";
import { NatsSupercluster } from "../support/nats.js";
import { JobStatus } from "../../internal/gen/iotfed/v1/admin_pb.js";

const REGIONS = ["cn-shanghai", "ap-southeast-1", "eu-central-1"];

/**
 * The multi-region layout of deploy/nats/: one NATS cluster per region
 * joined by gateways, the routes bucket placed in the first region's
 * cluster and mirrored into the others; each daemon talks to its own
 * region's NATS, reads routes from its local mirror, writes to the bucket.
 */
describe("replication across a NATS supercluster (bucket in one cluster, mirrors in the others)", function () {
  this.timeout(180000);
  let sc: NatsSupercluster;
  let fed: Awaited<ReturnType<typeof startFederation>>;
  let A: FederationMember, B: FederationMember, C: FederationMember;
  let a: AdminClient;

  before(async () => {
    sc = await NatsSupercluster.start(REGIONS);
    fed = await startFederation(3, {
      configFor: (i) => ({
        replication: {
          servers: [sc.servers[i]!.url],
          placementCluster: sc.clusters[0],
          staleAfterMs: 2000,
          ...(i === 0 ? {} : { mirror: { stream: `KV_iotfed-routes_${REGIONS[i]}`, cluster: sc.clusters[i] } }),
        },
      }),
    });
    [A, B, C] = fed.members as [FederationMember, FederationMember, FederationMember];
    const acct = await A.daemon.ctlJson(["account", "create", "acme"]);
    a = A.daemon.admin(acct.account.accountId);
  });
  after(async () => {
    a?.close();
    await fed?.dispose();
    await sc?.dispose();
  });

  it("places the bucket in the first cluster and a mirror in each other region's cluster", async () => {
    const nc = await connect({ servers: sc.servers[2]!.url });
    try {
      const jsm = await jetstreamManager(nc);
      const origin = await waitFor("the bucket", async () => jsm.streams.info("KV_iotfed-routes").catch(() => undefined), 15000, 100);
      assert.equal(origin.cluster?.name, sc.clusters[0]);
      for (const i of [1, 2]) {
        const m = await waitFor("a mirror", async () => jsm.streams.info(`KV_iotfed-routes_${REGIONS[i]}`).catch(() => undefined), 15000, 100);
        assert.equal(m.cluster?.name, sc.clusters[i]);
        assert.equal(m.config.mirror?.name, "KV_iotfed-routes");
      }
    } finally {
      await nc.close();
    }
  });

  it("a distribution A→B is answered at C (reading its own region's mirror) within 10 s", async () => {
    const pk = (await a.createProduct({ productName: "Pump" })).product!.productKey;
    await a.batchRegisterDevice({ productKey: pk, deviceNames: ["pump-0001", "pump-0002"] });
    const job = (await a.createDeviceDistributeJob({ productKey: pk, targetRegionId: B.region, targetInstanceId: B.id, deviceNames: ["pump-0001"] })).job!;
    await waitFor("job", async () => ((await a.queryDeviceDistributeJob({ jobId: job.jobId })).job!.status === JobStatus.COMPLETED ? true : undefined), 30000, 50);
    const host = async (dn: string) => (await bootstrap(C.daemon.addresses!.bootstrap, `productKey=${pk}&deviceName=${dn}`)).json?.data?.resources?.mqtt?.host;
    await waitFor("C to answer B", async () => ((await host("pump-0001")) === B.mqtt.host ? true : undefined), 10000, 50).catch((e) => { for (const m of fed.members) console.log(m.id, m.daemon.logs.filter((l) => /replication|warn/.test(l)).join("\n")); throw e; });
    assert.equal(await host("pump-0002"), A.mqtt.host);
    const m = await C.daemon.metrics();
    assert.match(m, /^iotfed_replication_connected 1$/m);
  });
});
