import { readFileSync, existsSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { parse as parseYaml } from "yaml";
import { AdminService } from "../../internal/gen/iotfed/v1/admin_pb.js";
import { createUnaryClient, type UnaryClient } from "../../internal/rpc/index.js";
import { ACT_AS_HEADER } from "../../internal/domain/index.js";
import { UsageError } from "./output.js";

export interface GlobalOptions {
  server?: string;
  token?: string;
  tokenFile?: string;
  config?: string;
  ca?: string;
  tls?: boolean;
  asAccount?: string;
  json?: boolean;
  timeout?: string;
}

interface CtlFile {
  server?: string;
  token?: string;
  tokenFile?: string;
  ca?: string;
  tls?: boolean;
  asAccount?: string;
}

/** The embedded default's operator token, used when nothing else names a token. */
export const EMBEDDED_TOKEN_FILE = "data/operator.token";
export const DEFAULT_SERVER = "127.0.0.1:50051";

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch (e) {
    throw new UsageError(`${what}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/**
 * Where the connection settings come from, first match wins: flags,
 * environment (IOTFED_SERVER, IOTFED_TOKEN, IOTFED_TOKEN_FILE, IOTFED_CA,
 * IOTFED_ACCOUNT), the ctl config file (--config or IOTFED_CTL_CONFIG), and
 * finally the embedded default (127.0.0.1:50051 and ./data/operator.token).
 */
export function resolveConnection(g: GlobalOptions, env: NodeJS.ProcessEnv = process.env) {
  const cfgPath = g.config ?? env.IOTFED_CTL_CONFIG;
  let file: CtlFile = {};
  if (cfgPath !== undefined && cfgPath !== "") {
    const doc = parseYaml(readText(cfgPath, "--config")) as unknown;
    if (doc !== null && typeof doc === "object") file = doc;
  }
  const server = g.server ?? env.IOTFED_SERVER ?? file.server ?? DEFAULT_SERVER;
  let token = g.token ?? env.IOTFED_TOKEN;
  const tokenFile = g.tokenFile ?? env.IOTFED_TOKEN_FILE ?? file.tokenFile;
  if (token === undefined && tokenFile !== undefined) token = readText(tokenFile, "--token-file");
  token ??= file.token;
  if (token === undefined && existsSync(EMBEDDED_TOKEN_FILE)) token = readText(EMBEDDED_TOKEN_FILE, "embedded operator token");
  if (token === undefined || token === "") {
    throw new UsageError("no token: give --token, --token-file, IOTFED_TOKEN or IOTFED_TOKEN_FILE");
  }
  const ca = g.ca ?? env.IOTFED_CA ?? file.ca;
  const tls = g.tls === true || file.tls === true || ca !== undefined;
  const asAccount = g.asAccount ?? env.IOTFED_ACCOUNT ?? file.asAccount;
  const timeoutMs = g.timeout === undefined ? 30000 : Number(g.timeout) * 1000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new UsageError("--timeout must be a positive number of seconds");
  return { server, token, tls, ca, asAccount, timeoutMs };
}

export type AdminClient = UnaryClient<(typeof AdminService)["method"]>;

export function connect(g: GlobalOptions): AdminClient {
  const c = resolveConnection(g);
  const creds = c.tls ? grpc.credentials.createSsl(c.ca === undefined ? null : Buffer.from(readText(c.ca, "--ca"))) : grpc.credentials.createInsecure();
  return createUnaryClient(AdminService, c.server, creds, {
    defaultDeadlineMs: c.timeoutMs,
    metadata: () => {
      const md = new grpc.Metadata();
      md.set("authorization", `Bearer ${c.token}`);
      if (c.asAccount !== undefined && c.asAccount !== "") md.set(ACT_AS_HEADER, c.asAccount);
      return md;
    },
  });
}
