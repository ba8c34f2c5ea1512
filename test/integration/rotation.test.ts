import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { JobStatus } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { endpointHost, makeCerts, startFederation, waitFor, type FederationMember } from "../support/daemon.js";
import { NatsServer } from "../support/nats.js";
import { waitJob } from "../support/jobs.js";
import { decodeRecord, keyOf } from "../../internal/replication/index.js";
import { keyIdOf } from "../../internal/trust/index.js";
import { X509Certificate } from "node:crypto";
import { connect as tlsConnect } from "node:tls";

/*
 * A peer certificate renewed while the federation runs (docs/operating/
 * security.md "Membership and revocation"): the daemon takes the new files
 * on SIGHUP, without a restart; new connections (its calls, and its peer
 * listener) use the new certificate,
 * its instance record lists it first (the old one second), its records are
 * published again signed with it, and the others go on working with it.
 */
/** The certificate A's peer listener presents to a new TLS connection (made with a member's client certificate). */
function presented(A: FederationMember, certFile: string, keyFile: string, caFile: string): Promise<Buffer> {
  const [host, port] = [A.peerAddress.slice(0, A.peerAddress.lastIndexOf(":")), Number(A.peerAddress.slice(A.peerAddress.lastIndexOf(":") + 1))];
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host, port, cert: readFileSync(certFile), key: readFileSync(keyFile), ca: readFileSync(caFile), ALPNProtocols: ["h2"], checkServerIdentity: () => undefined }, () => {
      const raw = s.getPeerX509Certificate()?.raw;
      s.destroy();
      if (raw === undefined) reject(new Error("no certificate presented"));
      else resolve(raw);
    });
    s.once("error", reject);
  });
}

describe("certificate rotation without a restart", function () {
  this.timeout(120000);
  let nats: NatsServer;
  let fed: Awaited<ReturnType<typeof startFederation>>;
  let A: FederationMember, B: FederationMember;

  before(async () => {
    nats = await NatsServer.start();
    fed = await startFederation(2, { config: { replication: { servers: [nats.url] } } });
    [A, B] = fed.members as [FederationMember, FederationMember];
  });
  after(async () => {
    await fed?.dispose();
    await nats?.dispose();
  });

  it("A's certificate and key are renewed and A is sent SIGHUP: its listener presents the new one, its record lists it first, and a distribution A→B works with it", async () => {
    const certs = makeCerts(fed.certDir, [A.id]); // a new key and certificate for A from the same CA, over the old files
    const fresh = new X509Certificate(readFileSync(certs.cert(A.id))).raw;
    const before = await presented(A, certs.cert(B.id), certs.key(B.id), certs.ca);
    assert.ok(!before.equals(fresh));
    A.daemon.proc!.kill("SIGHUP");
    await waitFor("A to take its new certificate", () => Promise.resolve(A.daemon.logs.some((l) => /peer certificate renewed/.test(l)) ? true : undefined), 10000, 100);
    assert.ok((await presented(A, certs.cert(B.id), certs.key(B.id), certs.ca)).equals(fresh), "A's peer listener presents the new certificate to new connections");
    const nc = await connect({ servers: nats.url });
    try {
      const kv = await new Kvm(nc).open("iotfed-routes");
      const key = keyOf({ kind: "instance", route: { instanceId: A.id, regionId: "", mqttHost: "", mqttPort: 0, version: 0, certificates: [], peerAddress: "", kind: "", committedAt: 0 } });
      const record = await waitFor("A's new instance record", async () => {
        const e = await kv.get(key);
        const r = e === null ? undefined : decodeRecord(key, e.value);
        return r?.kind === "instance" && r.route.certificates.length === 2 && Buffer.from(r.route.certificates[0]!).equals(fresh) ? r : undefined;
      }, 10000, 100);
      assert.ok(record.kind === "instance" && !Buffer.from(record.route.certificates[1]!).equals(fresh), "the previous certificate stays listed second");
    } finally {
      await nc.close();
    }
    const accountId = (await A.daemon.ctlJson(["account", "create", "acme"])).account.accountId as string;
    const a = A.daemon.admin(accountId);
    try {
      const pk = (await a.createProduct({ productName: "Relay" })).product!.productKey;
      await a.registerDevice({ productKey: pk, deviceName: "relay-0001" });
      const job = (await a.createDeviceDistributeJob({ productKey: pk, targetRegionId: B.region, targetInstanceId: B.id, deviceNames: ["relay-0001"] })).job!;
      assert.equal((await waitJob(a, job.jobId)).status, JobStatus.COMPLETED);
      for (const m of [A, B]) await waitFor(`${m.id} to answer B`, async () => ((await endpointHost(m.daemon, pk, "relay-0001")) === B.mqtt.host ? true : undefined), 10000, 100);
      // B checked A's release with the key of the certificate A presented: the new one.
      assert.ok(B.daemon.logs.some((l) => /handoff confirmed/.test(l)));
      assert.equal(keyIdOf(fresh).length, 16);
    } finally {
      a.close();
    }
    assert.ok(!(await B.daemon.metrics()).includes('iotfed_replication_refused_total{kind="product"'), "B refuses none of A's records signed with the new key");
  });
});
