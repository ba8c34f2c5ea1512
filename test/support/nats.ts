import { spawn, type ChildProcess } from "node:child_process";
import { connect as netConnect } from "node:net";
import { rmSync } from "node:fs";
import { freePort, tempDir, waitFor } from "./daemon.js";

export const NATS_SERVER = process.env.NATS_SERVER ?? "/usr/sbin/nats-server";

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
  readonly storeDir = tempDir("iotfed-nats-");
  log = "";
  private constructor(readonly port: number) {}

  static async start(): Promise<NatsServer> {
    const s = new NatsServer(await freePort());
    await s.start();
    return s;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const proc = spawn(NATS_SERVER, ["-a", "127.0.0.1", "-p", String(this.port), "-js", "-sd", this.storeDir, "--server_name", `test-${this.port}`], {
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
    const p = this.proc;
    if (p === undefined || p.exitCode !== null || p.signalCode !== null) return;
    const done = new Promise<void>((r) => p.once("exit", () => r()));
    p.kill("SIGKILL");
    await done;
  }

  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}
