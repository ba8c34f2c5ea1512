import assert from "node:assert/strict";
import { request } from "node:http";
import { TestDaemon, seedAccount, waitFor } from "../support/daemon.js";

/** One bootstrap on a new connection (so that both workers' accepts are used), its status. */
function bootstrapOnce(addr: string, pk: string, dn: string): Promise<number> {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];
  const body = `productKey=${pk}&deviceName=${encodeURIComponent(dn)}`;
  return new Promise((ok, fail) => {
    const req = request({ host, port, method: "POST", path: "/auth/bootstrap", agent: false, headers: { "content-type": "application/x-www-form-urlencoded", "content-length": Buffer.byteLength(body), connection: "close" } }, (res) => {
      res.resume();
      res.on("end", () => ok(res.statusCode!));
    });
    req.on("error", fail);
    req.end(body);
  });
}

/** The pids of the workers serving now, by worker number, from the daemon's log. */
function workerPids(d: TestDaemon): Map<number, number> {
  const pids = new Map<number, number>();
  for (const line of d.logs) {
    if (!line.includes('"edge worker serving"')) continue;
    const r = JSON.parse(line) as { worker: number; pid: number };
    pids.set(r.worker, r.pid);
  }
  return pids;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const metric = (text: string, line: string): number => {
  const m = text.split("\n").find((l) => l.startsWith(line + " "));
  return m === undefined ? 0 : Number(m.slice(line.length + 1));
};

describe("edge workers (edge.workers): the device edge on every core", function () {
  this.timeout(120000);
  const d = new TestDaemon({ config: { edge: { workers: 2 } } });
  let pk: string;
  let token: string;
  let addr: string;

  before(async () => {
    await d.start();
    addr = d.addresses!.bootstrap;
    token = (await seedAccount(d, "acme")).token;
    pk = (await d.ctlJson(["product", "create", "-n", "Lamp"], { token })).product.productKey;
  });
  after(async () => {
    await d.dispose();
  });

  it("starts two workers, each from the daemon's snapshot, and is ready only once both serve", async () => {
    const pids = workerPids(d);
    assert.deepEqual([...pids.keys()].sort(), [1, 2]);
    for (const pid of pids.values()) assert.ok(alive(pid));
    const ready = await fetch(`http://${d.addresses!.metrics}/readyz`);
    assert.equal(ready.status, 200);
    assert.match(await d.metrics(), /iotfed_edge_workers\{state="serving"\} 2/);
  });

  it("every worker follows the daemon's changes: registered, disabled, deleted; /metrics sums them", async () => {
    await d.ctlJson(["device", "register", pk, "lamp.1@x:y"], { token });
    await d.ctlJson(["device", "register", pk, "lamp-2"], { token });
    const before = metric(await d.metrics(), 'iotfed_bootstrap_requests_total{code="200"}');
    // Forty new connections: the kernel hands them to whichever worker accepts first.
    const statuses = await waitFor("both devices answered by every worker", async () => {
      const s = await Promise.all(Array.from({ length: 40 }, (_, i) => bootstrapOnce(addr, pk, i % 2 === 0 ? "lamp.1@x:y" : "lamp-2")));
      return s.every((x) => x === 200) ? s : undefined;
    });
    assert.equal(statuses.length, 40);
    const after = metric(await d.metrics(), 'iotfed_bootstrap_requests_total{code="200"}');
    assert.ok(after - before >= 40, `the workers' counts summed: ${after - before}`);
    await d.ctl(["device", "disable", pk, "lamp-2"], { token });
    await waitFor("lamp-2 refused by every worker", async () => ((await Promise.all(Array.from({ length: 20 }, () => bootstrapOnce(addr, pk, "lamp-2")))).every((x) => x === 403) ? true : undefined));
    await d.ctl(["device", "delete", pk, "lamp-2"], { token });
    await waitFor("lamp-2 unknown to every worker", async () => ((await Promise.all(Array.from({ length: 20 }, () => bootstrapOnce(addr, pk, "lamp-2")))).every((x) => x === 404) ? true : undefined));
  });

  it("a worker that is killed is started again from a new snapshot, with what changed while it was down", async () => {
    const pids = workerPids(d);
    const first = pids.get(1)!;
    process.kill(first, "SIGKILL");
    // The other worker answers meanwhile, and takes a change.
    await d.ctlJson(["device", "register", pk, "lamp-3"], { token });
    await waitFor("lamp-3 answered", async () => ((await bootstrapOnce(addr, pk, "lamp-3")) === 200 ? true : undefined));
    const restarted = await waitFor("worker 1 serving again", () => {
      const p = workerPids(d).get(1);
      return p !== undefined && p !== first ? p : undefined;
    }, 15000);
    assert.ok(alive(restarted));
    assert.match(await d.metrics(), /iotfed_edge_worker_restarts_total 1/);
    // Now only the restarted worker serves: it must know lamp-3 and lamp.1, and not lamp-2.
    const second = workerPids(d).get(2)!;
    process.kill(second, "SIGKILL");
    await waitFor("worker 2 gone", () => (alive(second) ? undefined : true));
    const only = await Promise.all(Array.from({ length: 10 }, () => bootstrapOnce(addr, pk, "lamp-3")));
    assert.deepEqual(new Set(only), new Set([200]));
    assert.equal(await bootstrapOnce(addr, pk, "lamp.1@x:y"), 200);
    assert.equal(await bootstrapOnce(addr, pk, "lamp-2"), 404);
    await waitFor("worker 2 serving again", () => (workerPids(d).get(2) !== second ? true : undefined), 15000);
  });

  it("stops its workers with the daemon (SIGTERM) and they end when it is killed", async () => {
    const pids = [...workerPids(d).values()].filter(alive);
    assert.equal(pids.length, 2);
    assert.equal(await d.stop(), 0);
    for (const pid of pids) assert.ok(!alive(pid), `worker ${pid} still running after the daemon stopped`);
    await d.start();
    const again = [...workerPids(d).values()].filter(alive);
    assert.equal(again.length, 2);
    await d.kill();
    await waitFor("workers of a killed daemon gone", () => (again.every((p) => !alive(p)) ? true : undefined), 10000);
  });
});
