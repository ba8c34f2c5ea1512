import assert from "node:assert/strict";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { TestDaemon, endpointHost, type AdminClient } from "../support/daemon.js";
import { bootstrap } from "../support/daemon.js";

/*
 * The route snapshot (docs/operating/backup-restore.md "Route snapshot"): a
 * clean shutdown writes the route table's device entries; the next start-up
 * reads them instead of the store's routes, and answers exactly as before.
 * A crash, or any write after a start-up, leaves the store's load.
 */
describe("route snapshot: a clean shutdown's table is read back at start-up; after a crash the store is read", function () {
  this.timeout(120000);
  let d: TestDaemon;
  let a: AdminClient;
  let pk: string;
  const names = Array.from({ length: 300 }, (_, i) => `snap-${String(i).padStart(4, "0")}`);
  const loaded = (): { from: string; devices: number; why?: string } => {
    const line = [...d.logs].reverse().find((l) => l.includes('"route table loaded"'));
    assert.ok(line !== undefined, "the load was logged");
    return JSON.parse(line) as { from: string; devices: number; why?: string };
  };
  const answers = async (): Promise<string[]> => {
    const out: string[] = [];
    for (const dn of [...names.slice(0, 20), "snap-disabled", "no-such-device"]) {
      const r = await bootstrap(d.addresses!.bootstrap, `productKey=${pk}&deviceName=${dn}`);
      out.push(`${dn} ${r.status} ${r.json?.data?.resources?.mqtt?.host ?? r.json?.message ?? ""}`);
    }
    return out;
  };

  before(async () => {
    d = new TestDaemon();
    await d.start();
    const accountId = (await d.ctlJson(["account", "create", "acme"])).account.accountId as string;
    a = d.admin(accountId);
    pk = (await a.createProduct({ productName: "Snap" })).product!.productKey;
    await a.batchRegisterDevice({ productKey: pk, deviceNames: [...names, "snap-disabled"] });
    await a.disableThing({ productKey: pk, deviceName: "snap-disabled" });
  });
  after(async () => {
    a?.close();
    await d?.dispose();
  });

  it("stopped cleanly and started again: the table comes from the snapshot and answers exactly as before; the snapshot is gone once read", async () => {
    assert.equal(loaded().from, "store");
    const before = await answers();
    a.close();
    assert.equal(await d.stop(), 0);
    assert.ok(d.logs.some((l) => l.includes("route snapshot written")));
    assert.ok(existsSync(join(d.dataDir, "routes.snapshot")));
    assert.equal(statSync(join(d.dataDir, "routes.snapshot")).mode & 0o777, 0o600);
    d.logs.length = 0;
    await d.start();
    const l = loaded();
    assert.equal(l.from, "snapshot");
    assert.equal(l.devices, names.length + 1);
    assert.deepEqual(await answers(), before);
    assert.ok(!existsSync(join(d.dataDir, "routes.snapshot")), "read once, then removed");
    a = d.admin((await d.ctlJson(["account", "list"])).accounts[0].accountId as string);
  });

  it("a write after that start-up and then a crash: the next start-up reads the store (the snapshot no longer matches), and has the write", async () => {
    await a.deleteDevice({ productKey: pk, deviceName: "snap-0000" });
    await a.enableThing({ productKey: pk, deviceName: "snap-disabled" });
    await d.kill();
    d.logs.length = 0;
    await d.start();
    const l = loaded();
    assert.equal(l.from, "store");
    assert.match(l.why ?? "", /no snapshot recorded in the store/);
    assert.equal(l.devices, names.length);
    assert.match(await endpointHost(d, pk, "snap-0000"), /404/);
    assert.equal((await bootstrap(d.addresses!.bootstrap, `productKey=${pk}&deviceName=snap-disabled`)).status, 200);
  });
});
