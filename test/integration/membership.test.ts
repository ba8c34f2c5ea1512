import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import * as grpc from "@grpc/grpc-js";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { JobStatus } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { endpointHost, freePort, makeCerts, startFederation, TestDaemon, waitFor, type FederationMember } from "../support/daemon.js";
import { NatsServer } from "../support/nats.js";
import { waitJob } from "../support/jobs.js";
import { peerClientAs, signingKeyOf } from "../support/peer.js";
import { keyOf, openRecord, sealRecord } from "../../internal/replication/index.js";
import type { RouteChange } from "../../internal/domain/index.js";

/*
 * Membership from the CA (docs/operating/security.md "Membership and
 * revocation"): a fourth region joins a running federation with only its
 * own configuration and a certificate from the federation's CA — no other
 * daemon is reconfigured or restarted — takes a distribution and is
 * answered for everywhere; then it is revoked, and its calls and records
 * are refused everywhere.
 */

describe("membership from the CA: a fourth region joins without restarting the others, then is revoked", function () {
  this.timeout(120000);
  let nats: NatsServer;
  let fed: Awaited<ReturnType<typeof startFederation>>;
  let A: FederationMember;
  let D: TestDaemon;
  const dir = mkdtempSync(join(tmpdir(), "iotfed-membership-"));
  const revoked = join(dir, "revoked.txt");
  const DID = "iot-cn-beijing-1";
  const D_MQTT = "mqtt.cn-beijing.example.com";

  before(async () => {
    nats = await NatsServer.start();
    writeFileSync(revoked, "");
    fed = await startFederation(3, { config: { replication: { servers: [nats.url] } }, revocationFile: revoked });
    [A] = fed.members as [FederationMember];
  });
  after(async () => {
    await D?.dispose();
    await fed?.dispose();
    await nats?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("D starts with its own configuration and a CA certificate only; A distributes to it, and every daemon answers D for the device", async () => {
    const certs = makeCerts(fed.certDir, [DID]);
    const port = await freePort();
    D = new TestDaemon({
      config: {
        region: { id: "cn-beijing" },
        instance: { id: DID, kind: "public", mqtt: { host: D_MQTT, port: 1883 } },
        // Listening on every address; the others are told where to call it.
        peer: { listen: `0.0.0.0:${port}`, advertiseAddress: `localhost:${port}`, tls: { caFile: certs.ca, certFile: certs.cert(DID), keyFile: certs.key(DID) } },
        replication: { servers: [nats.url] },
      },
    });
    await D.start();
    const nc = await connect({ servers: nats.url });
    try {
      const kv = await new Kvm(nc).open("iotfed-routes");
      const record = await waitFor("D's instance record", async () => {
        const e = await kv.get(`inst.${DID}`);
        return e === null || e.operation !== "PUT" ? undefined : openRecord(`inst.${DID}`, e.value);
      }, 10000, 100);
      assert.ok(record.change.kind === "instance" && record.change.route.peerAddress === `localhost:${port}`, "it publishes peer.advertiseAddress, not the wildcard it listens on");
    } finally {
      await nc.close();
    }
    const accountId = (await A.daemon.ctlJson(["account", "create", "acme"])).account.accountId as string;
    const a = A.daemon.admin(accountId);
    try {
      const pk = (await a.createProduct({ productName: "Gauge" })).product!.productKey;
      await a.registerDevice({ productKey: pk, deviceName: "gauge-0001" });
      // A learns D from D's signed instance record: D becomes a target without A's configuration changing.
      const job = await waitFor("A to accept D as a target", async () => {
        try {
          return (await a.createDeviceDistributeJob({ productKey: pk, targetRegionId: "cn-beijing", targetInstanceId: DID, deviceNames: ["gauge-0001"] })).job!;
        } catch {
          return undefined;
        }
      }, 15000, 200);
      assert.equal((await waitJob(a, job.jobId)).status, JobStatus.COMPLETED);
      for (const [name, d] of [...fed.members.map((m) => [m.id, m.daemon] as const), [DID, D] as const]) {
        await waitFor(`${name} to answer D for the device`, async () => ((await endpointHost(d, pk, "gauge-0001")) === D_MQTT ? true : undefined), 10000, 100);
      }
    } finally {
      a.close();
    }
  });

  it("revoked: D's calls are refused at every daemon, and its records are not applied", async () => {
    writeFileSync(revoked, `# decommissioned\ninstance ${DID}\n`);
    const asD = fed.members.map((m) => ({ m, c: peerClientAs(fed.certDir, { id: DID }, m) }));
    try {
      for (const { m, c } of asD) {
        await waitFor(`${m.id} to refuse D`, async () => {
          try {
            await c.confirmHandoff({ jobId: "j", productKey: "xxxxxxxxxxx", devices: [] });
            return undefined;
          } catch (e) {
            return (e as grpc.ServiceError).code === grpc.status.PERMISSION_DENIED ? true : undefined;
          }
        }, 10000, 200);
      }
    } finally {
      for (const { c } of asD) c.close();
    }
    // D's own instance record, with a new endpoint, signed with its (revoked) key.
    const key = signingKeyOf(fed.certDir, DID);
    const moved: RouteChange = { kind: "instance", route: { instanceId: DID, regionId: "cn-beijing", mqttHost: "moved.example.com", mqttPort: 1883, version: Date.now() + 1e9, certificates: [key.certificate], peerAddress: "", kind: "public", committedAt: Date.now() } };
    const nc = await connect({ servers: nats.url });
    try {
      const rev = await (await new Kvm(nc).open("iotfed-routes")).put(keyOf(moved), sealRecord(moved, DID, key));
      for (const m of fed.members) {
        await waitFor(`${m.id} to refuse D's record`, async () => {
          const text = await m.daemon.metrics();
          const last = Number(/^iotfed_replication_last_revision (\d+)/m.exec(text)?.[1] ?? 0);
          return last >= rev && /^iotfed_replication_refused_total\{kind="instance",reason="revoked"\} [1-9]/m.test(text) ? true : undefined;
        }, 10000, 100);
      }
    } finally {
      await nc.close();
    }
    // And D is no target any more.
    const a = A.daemon.admin();
    try {
      const accounts = (await a.queryAccountList({ pageSize: 10 })).accounts;
      const acct = A.daemon.admin(accounts[0]!.accountId);
      try {
        const pk = (await acct.createProduct({ productName: "Other" })).product!.productKey;
        await assert.rejects(acct.createProductDistributeJob({ productKey: pk, targetRegionId: "cn-beijing", targetInstanceId: DID }), (e: grpc.ServiceError) => /not a (configured )?peer|unknown|not a member/i.test(e.details));
      } finally {
        acct.close();
      }
    } finally {
      a.close();
    }
  });
});
