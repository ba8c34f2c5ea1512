import assert from "node:assert/strict";
import { copyFileSync, existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import * as grpc from "@grpc/grpc-js";
import { DevicePlacement, JobStatus } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { SCHEMA_VERSION, STORE_FILE } from "../../internal/store/index.js";
import { bootstrap, startFederation, waitFor, type AdminClient, type FederationMember } from "../support/daemon.js";
import { NatsServer } from "../support/nats.js";

type Fed = Awaited<ReturnType<typeof startFederation>>;

const hostOf = async (m: FederationMember, pk: string, dn: string): Promise<string> => {
  const r = await bootstrap(m.daemon.addresses!.bootstrap, `productKey=${pk}&deviceName=${dn}&resources=mqtt`);
  return r.status === 200 ? (r.json.data.resources.mqtt.host as string) : `HTTP ${r.status}`;
};

/**
 * Back up and restore: `iotfedctl backup` copies the store online through
 * SQLite's backup API; a daemon restored from that copy rejoins and catches
 * up from NATS, including moves it made itself after the backup.
 */
describe("backup and restore", function () {
  this.timeout(180000);
  let nats: NatsServer;
  let fed: Fed;
  let A: FederationMember, B: FederationMember;
  let a: AdminClient;
  let accountId: string;
  let pk: string;

  before(async () => {
    nats = await NatsServer.start();
    fed = await startFederation(2, { config: { replication: { servers: [nats.url], staleAfterMs: 1000 } } });
    [A, B] = fed.members as [FederationMember, FederationMember];
    accountId = (await A.daemon.ctlJson(["account", "create", "acme"])).account.accountId;
    a = A.daemon.admin(accountId);
    pk = (await a.createProduct({ productName: "Meter" })).product!.productKey;
  });
  after(async () => {
    a?.close();
    await fed?.dispose();
    await nats?.dispose();
  });

  it("a backup taken while batches commit is one consistent snapshot: whole batches only, and the copy passes its check", async () => {
    let writing = true;
    let batches = 0;
    const writer = (async () => {
      while (writing && batches < 400) {
        const names = Array.from({ length: 50 }, (_, i) => `w${String(batches).padStart(4, "0")}-${String(i).padStart(2, "0")}`);
        assert.equal((await a.batchRegisterDevice({ productKey: pk, deviceNames: names })).successCount, 50);
        batches++;
      }
    })();
    await waitFor("some batches", () => (batches >= 5 ? true : undefined), 20000);
    const r = await A.daemon.ctlJson(["backup", "--name", "during-writes.db"]);
    writing = false;
    await writer;
    assert.equal(r.schemaVersion, SCHEMA_VERSION);
    assert.ok(existsSync(r.path) && !existsSync(`${r.path}.tmp`));
    const copy = new Database(r.path, { readonly: true });
    try {
      assert.equal(copy.pragma("integrity_check", { simple: true }), "ok");
      const n = (copy.prepare("SELECT count(*) AS n FROM devices").get() as { n: number }).n;
      assert.ok(n >= 250 && n % 50 === 0, `${n} devices: whole batches only`);
    } finally {
      copy.close();
    }
    console.log(`      (${batches} batches of 50 committed while the backup ran; ${r.bytes} bytes in ${r.durationMs} ms)`);
  });

  it("refuses a name with a path, an existing name, and any caller but the operator, naming the field", async () => {
    const tok = await A.daemon.ctlJson(["account", "token", "create", accountId, "-d", "backup test"]);
    const asAccount = await A.daemon.ctl(["backup", "--name", "by-account.db"], { token: tok.secret as string });
    assert.equal(asAccount.code, 3, asAccount.stderr);
    assert.match(asAccount.stderr, /operator/);
    const op = A.daemon.admin();
    try {
      await assert.rejects(op.backup({ name: "../escape.db" }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /^name: /.test(e.details));
      await assert.rejects(op.backup({ name: "during-writes.db" }), (e: grpc.ServiceError) => e.code === grpc.status.ALREADY_EXISTS && /already exists/.test(e.details));
    } finally {
      op.close();
    }
  });

  it("a daemon restored from a backup rejoins and catches up from NATS: devices it moved after the backup are away again, and their names stay reserved (R10)", async () => {
    const names = ["r-0001", "r-0002", "r-0003", "r-0004"];
    assert.equal((await a.batchRegisterDevice({ productKey: pk, deviceNames: names })).successCount, names.length);
    const backup = await A.daemon.ctlJson(["backup", "--name", "before-move.db"]);

    // after the backup: two devices move to B
    const job = await a.createDeviceDistributeJob({ productKey: pk, targetRegionId: B.region, targetInstanceId: B.id, deviceNames: ["r-0001", "r-0002"] });
    const done = await waitFor("job", async () => {
      const j = (await a.queryDeviceDistributeJob({ jobId: job.job!.jobId })).job!;
      return j.status === JobStatus.COMPLETED || j.status === JobStatus.FAILED ? j : undefined;
    }, 30000, 50);
    assert.equal(done.succeeded, 2);

    // restore: stop, put the copy in place of the store, start
    a.close();
    assert.equal(await A.daemon.stop(), 0);
    const store = join(A.daemon.dataDir, STORE_FILE);
    for (const f of [store, `${store}-wal`, `${store}-shm`]) rmSync(f, { force: true });
    copyFileSync(backup.path, store);
    await A.daemon.start();
    a = A.daemon.admin(accountId);

    // the restored store said "here"; the stream says B holds them at generation 1
    for (const dn of ["r-0001", "r-0002"]) {
      await waitFor(`${dn} away at A`, async () => {
        const d = (await a.queryDeviceDetail({ productKey: pk, deviceName: dn })).device!;
        return d.placement === DevicePlacement.AWAY ? d : undefined;
      }, 15000, 50);
      assert.equal(await hostOf(A, pk, dn), B.mqtt.host);
      await assert.rejects(a.registerDevice({ productKey: pk, deviceName: dn }), (e: grpc.ServiceError) => e.code === grpc.status.FAILED_PRECONDITION && /R10/.test(e.details));
    }
    for (const dn of ["r-0003", "r-0004"]) {
      assert.equal((await a.queryDeviceDetail({ productKey: pk, deviceName: dn })).device!.placement, DevicePlacement.HERE);
      assert.equal(await hostOf(A, pk, dn), A.mqtt.host);
    }
  });
});
