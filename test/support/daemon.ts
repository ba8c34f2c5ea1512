import { spawn, spawnSync, execFile, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { stringify as toYaml } from "yaml";
import * as grpc from "@grpc/grpc-js";
import { AdminService } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { createUnaryClient, type UnaryClient } from "../../internal/rpc/index.js";

export type AdminClient = UnaryClient<(typeof AdminService)["method"]>;

const here = fileURLToPath(new URL(".", import.meta.url));
export const IOTFEDD = join(here, "../../cmd/iotfedd/main.js");
export const IOTFEDCTL = join(here, "../../cmd/iotfedctl/main.js");

export interface Addresses {
  admin: string;
  bootstrap: string;
  metrics: string;
  /** The external broker's HTTP hooks, when on. */
  mqttHooks?: string;
  /** The web console, when listen.console is set. */
  console?: string;
}

export interface CtlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * This process's environment without the developer's IOTFED_* variables
 * (a token, an account, a config file): test daemons and CLIs get only
 * what the test gives them.
 */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("IOTFED_")) env[k] = v;
  return { ...env, ...extra };
}

/** The path of a program the tests need, or one error saying how to get it (instead of `spawn ENOENT`). */
export function requireProgram(name: string, candidates: readonly string[], install: string): string {
  for (const c of candidates) {
    if (c.includes("/")) {
      if (existsSync(c)) return c;
    } else if (spawnSync("sh", ["-c", `command -v ${c}`], { encoding: "utf8" }).status === 0) return c;
  }
  throw new Error(`${name} is needed by this test and was not found (looked for ${candidates.join(", ")}): ${install}`);
}

export function tempDir(prefix = "iotfed-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Polls `fn` until it returns a value or the deadline passes (never a fixed sleep). */
export async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 10000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface DaemonSpec {
  /** Extra configuration merged over the test defaults (ports 0, temp data dir). */
  config?: Record<string, unknown>;
  /** Reuse a data directory (restarts). */
  dataDir?: string;
  env?: NodeJS.ProcessEnv;
  /** More command-line arguments (e.g. `--role edge`). */
  args?: string[];
}

/**
 * A real iotfedd process on loopback with ephemeral ports, its own temp data
 * directory and keys. `ready` resolves from the daemon's "iotfedd ready" log
 * line, which carries the bound addresses.
 */
export class TestDaemon {
  readonly dataDir: string;
  readonly configPath: string;
  readonly operatorToken = "op_" + randomBytes(24).toString("hex");
  readonly sealKey = randomBytes(32).toString("base64");
  proc: ChildProcess | undefined;
  addresses: Addresses | undefined;
  logs: string[] = [];
  stderr = "";
  private readonly ownsDir: boolean;

  constructor(readonly spec: DaemonSpec = {}) {
    this.ownsDir = spec.dataDir === undefined;
    this.dataDir = spec.dataDir ?? tempDir();
    this.configPath = join(this.dataDir, "..", `${this.dataDir.split("/").pop()}.yaml`);
    const config = {
      dataDir: this.dataDir,
      listen: { admin: "127.0.0.1:0", bootstrap: "127.0.0.1:0", metrics: "127.0.0.1:0" },
      log: { level: "info" },
      // The daemon's own process answers bootstrap, as in the embedded default;
      // edge workers are tested where they are set (edge-workers.test.ts).
      edge: { workers: 0 },
      ...spec.config,
      // Tests send bursts from 127.0.0.1; the edge's per-address limits are
      // tested where they are set (test/hostile).
      limits: { bootstrapRatePerIp: 1000000, bootstrapBurstPerIp: 1000000, ...(spec.config?.limits as object | undefined) },
    };
    writeFileSync(this.configPath, toYaml(config));
  }

  get env(): NodeJS.ProcessEnv {
    return cleanEnv({ IOTFED_SEAL_KEY: this.sealKey, IOTFED_OPERATOR_TOKEN: this.operatorToken, ...this.spec.env });
  }

  async start(timeoutMs = 20000): Promise<Addresses> {
    this.logs = [];
    this.stderr = "";
    this.addresses = undefined;
    const proc = spawn(process.execPath, [IOTFEDD, "--config", this.configPath, ...(this.spec.args ?? [])], { env: this.env, stdio: ["ignore", "pipe", "pipe"] });
    this.proc = proc;
    let buf = "";
    proc.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.logs.push(line);
        try {
          const rec = JSON.parse(line) as { msg?: string } & Partial<Addresses>;
          if (rec.msg === "iotfedd ready") this.addresses = { admin: rec.admin!, bootstrap: rec.bootstrap!, metrics: rec.metrics!, ...(rec.mqttHooks ? { mqttHooks: rec.mqttHooks } : {}), ...(rec.console ? { console: rec.console } : {}) };
        } catch {
          /* not JSON */
        }
      }
    });
    proc.stderr.setEncoding("utf8").on("data", (c: string) => (this.stderr += c));
    let exited: number | null | undefined;
    proc.once("exit", (code, signal) => (exited = code ?? (signal === null ? -1 : -2)));
    return waitFor(
      "iotfedd ready",
      () => {
        if (exited !== undefined) throw new Error(`iotfedd exited (${exited}) before ready: ${this.stderr.trim() || this.logs.join("\n")}`);
        return this.addresses;
      },
      timeoutMs,
    );
  }

  /** SIGTERM and wait for the exit code. */
  async stop(): Promise<number | null> {
    const p = this.proc;
    if (p === undefined || p.exitCode !== null || p.signalCode !== null) return p?.exitCode ?? null;
    const done = new Promise<number | null>((r) => p.once("exit", (code) => r(code)));
    p.kill("SIGTERM");
    return done;
  }

  /** SIGKILL: a crash, nothing drained. */
  async kill(): Promise<void> {
    await killAndWait(this.proc);
  }

  async dispose(): Promise<void> {
    await this.kill();
    if (this.ownsDir) rmSync(this.dataDir, { recursive: true, force: true });
    rmSync(this.configPath, { force: true });
  }

  /** The daemon's /metrics text. */
  async metrics(): Promise<string> {
    return (await fetch(`http://${this.addresses!.metrics}/metrics`)).text();
  }

  /** A direct admin gRPC client (fast, for polling); the operator token, acting for `asAccount` when given. */
  admin(asAccount?: string): AdminClient {
    const token = this.operatorToken;
    return createUnaryClient(AdminService, this.addresses!.admin, grpc.credentials.createInsecure(), {
      defaultDeadlineMs: 20000,
      metadata: () => {
        const md = new grpc.Metadata();
        md.set("authorization", `Bearer ${token}`);
        if (asAccount !== undefined) md.set("x-iotfed-account", asAccount);
        return md;
      },
    });
  }

  /** A direct admin gRPC client that presents an account's own API token. */
  adminWithToken(token: string): AdminClient {
    return createUnaryClient(AdminService, this.addresses!.admin, grpc.credentials.createInsecure(), {
      defaultDeadlineMs: 20000,
      metadata: () => {
        const md = new grpc.Metadata();
        md.set("authorization", `Bearer ${token}`);
        return md;
      },
    });
  }

  /** Runs iotfedctl against this daemon with the operator token unless `token` says otherwise. */
  ctl(args: string[], opts: { token?: string; asAccount?: string; stdin?: string } = {}): Promise<CtlResult> {
    const env = cleanEnv({ IOTFED_TOKEN: opts.token ?? this.operatorToken });
    if (opts.asAccount !== undefined) env.IOTFED_ACCOUNT = opts.asAccount;
    return runCtl(["--server", this.addresses!.admin, ...args], env, opts.stdin);
  }

  /** ctl with --json, parsed; throws with the CLI's stderr when it fails. */
  async ctlJson<T = Record<string, any>>(args: string[], opts: { token?: string; asAccount?: string; stdin?: string } = {}): Promise<T> {
    const r = await this.ctl(["--json", ...args], opts);
    if (r.code !== 0) throw new Error(`iotfedctl ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }
}

/** SIGKILL a child process (a crash, nothing drained) and wait until it is gone. */
export async function killAndWait(p: ChildProcess | undefined): Promise<void> {
  if (p === undefined || p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise<void>((r) => p.once("exit", () => r()));
  p.kill("SIGKILL");
  await done;
}

export function runCtl(args: string[], env: NodeJS.ProcessEnv, stdin?: string, cwd?: string): Promise<CtlResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [IOTFEDCTL, ...args], { env, cwd, timeout: 30000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : -1;
      resolve({ code, stdout, stderr });
    });
    if (stdin !== undefined) child.stdin!.end(stdin);
    else child.stdin!.end();
  });
}

/** POSTs a bootstrap form and returns status, raw body and parsed JSON. */
export async function bootstrap(addr: string, body: string, opts: { method?: string; contentType?: string | null; path?: string } = {}) {
  const headers: Record<string, string> = {};
  if (opts.contentType !== null) headers["content-type"] = opts.contentType ?? "application/x-www-form-urlencoded;charset=utf-8";
  const res = await fetch(`http://${addr}${opts.path ?? "/auth/bootstrap"}`, {
    method: opts.method ?? "POST",
    headers,
    ...(opts.method === "GET" || opts.method === "HEAD" ? {} : { body }),
  });
  const raw = Buffer.from(await res.arrayBuffer());
  let json: any;
  try {
    json = JSON.parse(raw.toString("utf8"));
  } catch {
    json = undefined;
  }
  return { status: res.status, raw, json };
}

/** Sets up an account with a token and a product: the common start of integration tests. */
export async function seedAccount(d: TestDaemon, name: string) {
  const acct = await d.ctlJson(["account", "create", name]);
  const accountId = acct.account.accountId as string;
  const tok = await d.ctlJson(["account", "token", "create", accountId, "-d", "tests"]);
  return { accountId, token: tok.secret as string };
}

/** Makes a CA and certificates (CN = name) with deploy/gen-certs.sh, as an operator would. */
export function makeCerts(dir: string, names: string[]): { ca: string; cert: (n: string) => string; key: (n: string) => string } {
  const script = join(here, "../../../deploy/gen-certs.sh");
  requireProgram("openssl", ["openssl"], "install it (apt-get install -y openssl)");
  const r = spawnSync("bash", [script, dir, ...names], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`gen-certs.sh failed: ${r.stderr}`);
  return { ca: join(dir, "ca.crt"), cert: (n) => join(dir, `${n}.crt`), key: (n) => join(dir, `${n}.key`) };
}

/** True when nothing listens on the loopback port now. */
export async function portFree(port: number): Promise<boolean> {
  const { createServer } = await import("node:net");
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/**
 * A port that was free a moment ago (for configs that must name each
 * other's addresses), chosen below Linux's ephemeral range (32768-60999):
 * there the outgoing connections of the daemons under test cannot take it
 * between this check and the daemon's bind.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (!handedOut.has(port) && (await portFree(port))) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error("no free port below the ephemeral range");
}
/** Ports this process handed out already: never twice to two daemons. */
const handedOut = new Set<number>();

export interface FederationMember {
  id: string;
  region: string;
  daemon: TestDaemon;
  mqtt: { host: string; port: number };
  peerAddress: string;
}

/**
 * N daemons in N regions that know each other as peers over mutual TLS, with
 * certificates made by deploy/gen-certs.sh. Every daemon gets the same seal
 * key source but its own store.
 */
export async function startFederation(
  n: number,
  opts: {
    peer?: Record<string, unknown>;
    config?: Record<string, unknown>;
    configFor?: (i: number) => Record<string, unknown>;
    regions?: string[];
    kinds?: string[];
    envFor?: (i: number) => NodeJS.ProcessEnv;
    /** A revocation list every member reads (peer.tls.revocationFile). */
    revocationFile?: string;
  } = {},
): Promise<{ members: FederationMember[]; certDir: string; dispose(): Promise<void> }> {
  const regions = opts.regions ?? ["cn-shanghai", "ap-southeast-1", "eu-central-1", "us-west-1", "cn-beijing"];
  const certDir = tempDir("iotfed-fed-certs-");
  const ids = Array.from({ length: n }, (_, i) => `iot-${regions[i]!}-1`);
  const certs = makeCerts(certDir, ids);
  const ports = await Promise.all(ids.map(() => freePort()));
  const members: FederationMember[] = ids.map((id, i) => {
    const mqtt = { host: `mqtt.${regions[i]!}.example.com`, port: 1883 };
    const peers = ids
      .map((pid, j) => ({ id: pid, region: regions[j]!, kind: opts.kinds?.[j] ?? "public", address: `127.0.0.1:${ports[j]!}`, mqtt: { host: `mqtt.${regions[j]!}.example.com`, port: 1883 } }))
      .filter((p) => p.id !== id);
    const daemon = new TestDaemon({
      config: {
        region: { id: regions[i]! },
        instance: { id, kind: opts.kinds?.[i] ?? "public", mqtt },
        peer: { listen: `127.0.0.1:${ports[i]!}`, tls: { caFile: certs.ca, certFile: certs.cert(id), keyFile: certs.key(id), ...(opts.revocationFile === undefined ? {} : { revocationFile: opts.revocationFile }) }, retryWindowMs: 60000, ...opts.peer },
        peers,
        ...opts.config,
        ...opts.configFor?.(i),
      },
      ...(opts.envFor === undefined ? {} : { env: opts.envFor(i) }),
    });
    return { id, region: regions[i]!, daemon, mqtt, peerAddress: `127.0.0.1:${ports[i]!}` };
  });
  await Promise.all(members.map((m) => m.daemon.start()));
  return {
    members,
    certDir,
    async dispose() {
      await Promise.all(members.map((m) => m.daemon.dispose()));
      rmSync(certDir, { recursive: true, force: true });
    },
  };
}

/** Runs iotfedd to its exit (killed after 15 s): its exit code and standard error. */
export function runDaemonOnce(args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [IOTFEDD, ...args], { env, cwd, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    p.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    const timer = setTimeout(() => p.kill("SIGKILL"), 15000);
    p.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/** The MQTT host a bootstrap of the device at `d` answers, or "HTTP <status>". */
export async function endpointHost(d: TestDaemon, productKey: string, deviceName: string): Promise<string> {
  const r = await bootstrap(d.addresses!.bootstrap, `productKey=${productKey}&deviceName=${encodeURIComponent(deviceName)}&clientId=${productKey}.${encodeURIComponent(deviceName)}&resources=mqtt`);
  return r.status === 200 ? String((r.json as { data?: { resources?: { mqtt?: { host?: string } } } }).data?.resources?.mqtt?.host ?? JSON.stringify(r.json)) : `HTTP ${r.status}`;
}

/** The sum of a metric's samples at `d` whose labels include every one given (0 when there is none). */
export async function metricSum(d: TestDaemon, name: string, labels: Record<string, string> = {}): Promise<number> {
  let sum = 0;
  for (const line of (await d.metrics()).split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}
