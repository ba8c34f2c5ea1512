import { spawn, type ChildProcess } from "node:child_process";
import { connect as netConnect } from "node:net";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { freePort, killAndWait, requireProgram, tempDir, waitFor } from "./daemon.js";

/** The nats-server binary: NATS_SERVER, else Debian's, else the PATH's. */
export const natsServerBinary = (): string =>
  requireProgram("nats-server", [process.env.NATS_SERVER ?? "/usr/sbin/nats-server", "nats-server"], "install it (apt-get install -y nats-server) or set NATS_SERVER");

const accepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = netConnect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });

/**
 * A real nats-server with JetStream on a loopback port of its own, with a
 * store directory that survives kill/start, so tests can take NATS away
 * (SIGKILL) and bring it back with its streams.
 */
export class NatsServer {
  proc: ChildProcess | undefined;
  log = "";
  constructor(
    readonly port: number,
    private readonly configFile?: string,
    readonly storeDir: string = tempDir("iotfed-nats-"),
  ) {}

  static async start(): Promise<NatsServer> {
    const s = new NatsServer(await freePort());
    await s.start();
    return s;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const args = this.configFile !== undefined ? ["-c", this.configFile] : ["-a", "127.0.0.1", "-p", String(this.port), "-js", "-sd", this.storeDir, "--server_name", `test-${this.port}`];
    const proc = spawn(natsServerBinary(), args, {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.proc = proc;
    proc.stderr.setEncoding("utf8").on("data", (c: string) => (this.log = (this.log + c).slice(-20000)));
    proc.stdout.resume();
    let exited = false;
    proc.once("exit", () => (exited = true));
    await waitFor(`nats-server on ${this.port}`, async () => {
      if (exited) throw new Error(`nats-server exited: ${this.log}`);
      return (await accepts(this.port)) || undefined;
    }, 15000, 50);
  }

  async kill(): Promise<void> {
    await killAndWait(this.proc);
  }

  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}

/**
 * A NATS supercluster on loopback: one single-server cluster per region
 * (`c-<region>`), JetStream on each, joined by gateways — the layout of
 * deploy/nats/, small enough for a test.
 */
export class NatsSupercluster {
  private constructor(readonly servers: NatsServer[], readonly clusters: string[]) {}

  static async start(regions: string[]): Promise<NatsSupercluster> {
    const client = await Promise.all(regions.map(() => freePort()));
    const route = await Promise.all(regions.map(() => freePort()));
    const gw = await Promise.all(regions.map(() => freePort()));
    const clusters = regions.map((r) => `c-${r}`);
    const servers: NatsServer[] = [];
    for (let i = 0; i < regions.length; i++) {
      const dir = tempDir("iotfed-natsconf-");
      const conf = join(dir, "nats.conf");
      const store = tempDir("iotfed-nats-");
      writeFileSync(
        conf,
        [
          `server_name: nats-${regions[i]}`,
          `listen: 127.0.0.1:${client[i]}`,
          `jetstream { store_dir: "${store}" }`,
          // A one-server cluster names itself as its route: JetStream in a supercluster needs a cluster block.
          `cluster { name: ${clusters[i]}, listen: 127.0.0.1:${route[i]}, routes: [nats://127.0.0.1:${route[i]}] }`,
          `gateway { name: ${clusters[i]}, listen: 127.0.0.1:${gw[i]}, gateways: [${regions.map((_, j) => `{ name: ${clusters[j]}, urls: [nats://127.0.0.1:${gw[j]}] }`).join(", ")}] }`,
        ].join("\n"),
      );
      servers.push(new NatsServer(client[i]!, conf, store));
    }
    const sc = new NatsSupercluster(servers, clusters);
    await Promise.all(servers.map((s) => s.start()));
    // JetStream answers only once the supercluster has elected its meta leader.
    for (const s of servers) {
      const nc = await connect({ servers: s.url });
      try {
        await waitFor(`JetStream on ${s.url}`, async () => (await jetstreamManager(nc, { timeout: 1000 }).then(() => true, () => undefined)), 30000, 200);
      } finally {
        await nc.close();
      }
    }
    return sc;
  }

  async dispose(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.dispose()));
  }
}
