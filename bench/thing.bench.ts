/**
 * Property posts per second through the embedded broker into the store:
 * one device per connection, many connections, each posting
 * `thing.event.property.post` (QoS 1) and waiting for its `_reply` (checked
 * against the thing model, stored, answered) before the next. Baseline in
 * the same run: a bare aedes broker in a process of its own, the same
 * clients publishing the same payloads (QoS 1) and waiting for the PUBACK.
 * The server's CPU time per post is read from /proc.
 */
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { cpuMs } from "./proc.js";
import { join } from "node:path";
import mqtt from "mqtt";
import { freePort, TestDaemon } from "../test/support/daemon.js";
import { signIn } from "../test/support/mqtt.js";

const here = fileURLToPath(new URL(".", import.meta.url));

const TSL = JSON.stringify({
  properties: [
    { identifier: "temp", name: "Temperature", accessMode: "r", dataType: { type: "float", specs: { min: "-40", max: "85" } } },
    { identifier: "hum", name: "Humidity", accessMode: "r", dataType: { type: "int", specs: { min: "0", max: "100" } } },
    { identifier: "state", name: "State", accessMode: "r", dataType: { type: "enum", specs: { "0": "idle", "1": "busy" } } },
  ],
  events: [],
  services: [],
});

export interface ThingRun {
  posts: number;
  seconds: number;
  /** Server CPU time per post, µs. */
  cpuUs: number;
  /** The load generator's (this process's) CPU time per post, µs. */
  clientUs: number;
  p50: number;
  p99: number;
  failed: number;
}

export interface ThingBenchResult {
  connections: number;
  ours: ThingRun[];
  baseline: ThingRun[];
  stored: number;
}


const payload = (i: number): string => JSON.stringify({ id: String(i), version: "1.0", params: { temp: 20 + (i % 50) / 10, hum: i % 100, state: i % 2 }, method: "thing.event.property.post" });

/**
 * Each client posts until `total` posts are done between them (or `maxSeconds`), one at a time:
 * `ack` resolves when the post is answered (the reply, or the PUBACK).
 */
async function drive(clients: { post(i: number): Promise<boolean> }[], total: number, maxSeconds: number, pid: number | undefined): Promise<ThingRun> {
  let next = 0;
  let failed = 0;
  const latencies: number[] = [];
  const deadline = performance.now() + maxSeconds * 1000;
  const c0 = cpuMs(pid);
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    clients.map(async (c) => {
      while (next < total && performance.now() < deadline) {
        const i = next++;
        const s = performance.now();
        if (!(await c.post(i))) failed++;
        latencies.push(performance.now() - s);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const u = process.cpuUsage(u0);
  latencies.sort((a, b) => a - b);
  return { posts: latencies.length, seconds, cpuUs: ((cpuMs(pid) - c0) * 1000) / latencies.length, clientUs: (u.user + u.system) / latencies.length, p50: latencies[Math.floor(latencies.length / 2)] ?? 0, p99: latencies[Math.floor(latencies.length * 0.99)] ?? 0, failed };
}

const connectAll = async (n: number, port: number, creds: (i: number) => mqtt.IClientOptions): Promise<mqtt.MqttClient[]> => {
  const out: mqtt.MqttClient[] = [];
  for (let i = 0; i < n; i += 50) {
    out.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(50, n - i) }, (_, k) => mqtt.connectAsync({ host: "127.0.0.1", port, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10000, ...creds(i + k) })),
      )),
    );
  }
  return out;
};

/** With taskset and two or more CPUs, a server gets CPU 0 and this process the others. */
const pin = (pid: number | undefined, cpu: string): void => {
  if (pid !== undefined && spawnSync("taskset", ["-V"]).status === 0) spawnSync("taskset", ["-acp", cpu, String(pid)]);
};

export async function benchThing(connections: number, total: number, rounds: number): Promise<ThingBenchResult> {
  const result: ThingBenchResult = { connections, ours: [], baseline: [], stored: 0 };
  const port = await freePort();
  const daemon = new TestDaemon({
    config: {
      instance: { id: "iot-cn-shanghai-1", kind: "public", mqtt: { host: "127.0.0.1", port } },
      mqtt: { broker: { enabled: true, listen: `127.0.0.1:${port}` }, timestampWindowMs: 0 },
      runtimeData: { historyPerProperty: 100 },
    },
  });
  const aedes = spawn(process.execPath, [join(here, "aedes-server.js")], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    await daemon.start();
    const basePort = await new Promise<number>((resolve, reject) => {
      aedes.stdout.setEncoding("utf8").once("data", (d: string) => resolve(Number(d.trim())));
      aedes.once("exit", (c) => reject(new Error(`aedes server exited ${c}`)));
    });
    pin(daemon.proc?.pid, "0");
    pin(aedes.pid, "0");
    pin(process.pid, "1-63");
    const accountId = (await daemon.ctlJson(["account", "create", "bench"])).account.accountId as string;
    const a = daemon.admin(accountId);
    const pk = (await a.createProduct({ productName: "Bench thermo" })).product!.productKey;
    await a.importThingModelTsl({ productKey: pk, tslJson: TSL });
    const names = Array.from({ length: connections }, (_, i) => `bench-${String(i).padStart(5, "0")}`);
    const reg = await a.batchRegisterDevice({ productKey: pk, deviceNames: names });
    const secrets = new Map(reg.results.map((r) => [r.deviceName, r.device!.deviceSecret]));

    // Ours: each device signs in, subscribes to its replies, posts and waits for each reply.
    const oursClients = await connectAll(connections, port, (i) => signIn(pk, names[i]!, secrets.get(names[i]!)!));
    const ours = await Promise.all(
      oursClients.map(async (c, k) => {
        const topic = `/sys/${pk}/${names[k]}/thing/event/property/post`;
        const waiting = new Map<string, (ok: boolean) => void>();
        c.on("message", (_t, p) => {
          const r = JSON.parse(p.toString()) as { id: string; code: number };
          waiting.get(r.id)?.(r.code === 200);
          waiting.delete(r.id);
        });
        await c.subscribeAsync(`${topic}_reply`, { qos: 0 });
        return {
          post: (i: number): Promise<boolean> =>
            new Promise<boolean>((resolve) => {
              waiting.set(String(i), resolve);
              c.publish(topic, payload(i), { qos: 1 });
            }),
        };
      }),
    );
    // Baseline: the same number of clients at the bare broker, QoS 1, waiting for the PUBACK.
    const baseClients = await connectAll(connections, basePort, (i) => ({ clientId: `base-${i}` }));
    const base = baseClients.map((c, k) => ({
      post: (i: number): Promise<boolean> => c.publishAsync(`/sys/${pk}/${names[k]}/thing/event/property/post`, payload(i), { qos: 1 }).then(() => true, () => false),
    }));
    // Warm-up, then alternate.
    await drive(ours, Math.min(5000, total), 30, daemon.proc?.pid);
    await drive(base, Math.min(5000, total), 30, aedes.pid);
    for (let r = 0; r < rounds; r++) {
      result.baseline.push(await drive(base, total, 60, aedes.pid));
      result.ours.push(await drive(ours, total, 60, daemon.proc?.pid));
    }
    const status = await a.queryDevicePropertyStatus({ productKey: pk, deviceName: names[0]! });
    result.stored = status.properties.filter((p) => p.valueJson !== "").length;
    for (const c of [...oursClients, ...baseClients]) c.end(true);
    a.close();
  } finally {
    aedes.kill("SIGTERM");
    await daemon.dispose();
    pin(process.pid, "0-63");
  }
  return result;
}
