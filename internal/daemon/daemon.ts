import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Server } from "node:http";
import * as grpc from "@grpc/grpc-js";
import type { LoadedConfig } from "../config/index.js";
import type { Logger } from "../log/index.js";
import { createSealer, hashToken, loadOperatorToken, loadSealKey } from "../security/index.js";
import { createAccountsRepo, createDevicesRepo, createProductsRepo, openStore, type Db } from "../store/index.js";
import { RouteTable } from "../routes/index.js";
import { createMetrics } from "../metrics/index.js";
import { createBootstrapServer } from "../bootstrap/index.js";
import { createAdminServer } from "../admin/index.js";
import { AdminService } from "../gen/iotfed/v1/admin_pb.js";
import { createSreServer } from "./sre-server.js";
import { joinHostPort, listen, splitHostPort } from "./listen.js";

export const VERSION = "0.1.0";

export interface DaemonOptions {
  loaded: LoadedConfig;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
}

export interface Addresses {
  admin: string;
  bootstrap: string;
  metrics: string;
}

export interface Daemon {
  readonly addresses: Addresses;
  /** Stops accepting, drains in-flight work up to the deadline, closes the store. */
  stop(): Promise<void>;
}

function readTls(files: { certFile: string; keyFile: string }, key: string): { cert: Buffer; key: Buffer } {
  try {
    return { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
  } catch (e) {
    throw new Error(`${key}: cannot read TLS files: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
}

function closeHttp(server: Server, deadlineMs: number): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(() => {
      server.closeAllConnections();
      done();
    }, deadlineMs);
    server.close(() => {
      clearTimeout(timer);
      done();
    });
    server.closeIdleConnections();
  });
}

function shutdownGrpc(server: grpc.Server, deadlineMs: number): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      done();
    }, deadlineMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      done();
    });
  });
}

/**
 * The composition root: builds every part from the configuration and starts
 * the listeners. Nothing else in the code base knows all the parts.
 */
export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const { config, embedded } = opts.loaded;
  const env = opts.env ?? process.env;
  const log = opts.logger;
  const dataDir = resolve(config.dataDir);

  const seal = loadSealKey({
    key: "security.sealKeyFile",
    file: config.security.sealKeyFile,
    envName: "IOTFED_SEAL_KEY",
    env,
    generateAt: embedded ? join(dataDir, "seal.key") : undefined,
  });
  const operator = loadOperatorToken({
    key: "security.operatorTokenFile",
    file: config.security.operatorTokenFile,
    envName: "IOTFED_OPERATOR_TOKEN",
    env,
    generateAt: embedded ? join(dataDir, "operator.token") : undefined,
  });
  if (seal.generated) log.info({ path: join(dataDir, "seal.key") }, "generated secret-sealing key for the embedded default");
  if (operator.generated) log.info({ path: join(dataDir, "operator.token") }, "generated operator token for the embedded default");

  const { db, fromVersion, toVersion } = openStore(dataDir);
  if (fromVersion !== toVersion) log.info({ fromVersion, toVersion }, "store migrated");
  let adminServer: grpc.Server | undefined;
  const servers: Server[] = [];
  try {
    return await build(db);
  } catch (e) {
    adminServer?.forceShutdown();
    for (const s of servers) s.close();
    db.close();
    throw e;
  }

  async function build(db: Db): Promise<Daemon> {
    const self = { host: config.instance.mqtt.host, port: config.instance.mqtt.port };
    const routes = new RouteTable();
    routes.endpoint(self);
    const sealer = createSealer(seal.key);
    const accounts = createAccountsRepo(db);
    const products = createProductsRepo(db, {
      created: (p) => routes.setProduct(p.productKey, self, p.ownerInstanceId === config.instance.id),
      deleted: (pk) => routes.deleteProduct(pk),
    });
    const devices = createDevicesRepo(db, sealer, {
      upserted: (pk, dn, disabled) => routes.setDevice(pk, dn, self, disabled),
      deleted: (pk, dn) => routes.deleteDevice(pk, dn),
    });

    const t0 = performance.now();
    for (const p of products.all()) routes.setProduct(p.productKey, self, p.ownerInstanceId === config.instance.id);
    for (const d of devices.routeEntries()) routes.setDevice(d.productKey, d.deviceName, self, d.disabled);
    log.info({ ...routes.stats(), ms: Math.round(performance.now() - t0) }, "route table loaded");

    const metrics = createMetrics();
    metrics.buildInfo.set({ version: VERSION, region: config.region.id, instance: config.instance.id, kind: config.instance.kind }, 1);
    metrics.setSources({ routeTable: () => routes.stats(), deviceCounts: () => devices.countByStatus() });

    let ready = false;
    let stopping = false;
    const { server: admin, health } = createAdminServer({
      accounts,
      products,
      devices,
      regionId: config.region.id,
      instanceId: config.instance.id,
      maxDevicesPerBatch: config.limits.devicesPerBatch,
      operatorTokenHash: hashToken(operator.token),
      metrics,
      logger: log,
      maxMessageBytes: config.limits.adminMaxMessageBytes,
    });
    adminServer = admin;
    const adminCreds =
      config.tls.admin === undefined
        ? grpc.ServerCredentials.createInsecure()
        : (() => {
            const t = readTls(config.tls.admin, "tls.admin");
            return grpc.ServerCredentials.createSsl(null, [{ cert_chain: t.cert, private_key: t.key }], false);
          })();
    const adminAddr = config.listen.admin;
    const adminPort = await new Promise<number>((ok, fail) =>
      admin.bindAsync(adminAddr, adminCreds, (err, port) => (err ? fail(new Error(`listen.admin: cannot listen on ${adminAddr}: ${err.message}`)) : ok(port))),
    );

    const bootstrap = createBootstrapServer({
      routes,
      metrics,
      logger: log,
      maxBodyBytes: config.limits.bootstrapMaxBodyBytes,
      requestTimeoutMs: config.limits.bootstrapRequestTimeoutMs,
      keepAliveMs: config.limits.bootstrapKeepAliveMs,
      ...(config.tls.bootstrap === undefined ? {} : { tls: readTls(config.tls.bootstrap, "tls.bootstrap") }),
    });
    servers.push(bootstrap);
    const sre = createSreServer({
      registry: metrics.registry,
      notReady: () => (stopping ? "shutting down" : ready ? undefined : "starting"),
    });
    servers.push(sre);
    const bootstrapAddr = await listen(bootstrap, config.listen.bootstrap).catch((e: Error) => {
      throw new Error(`listen.bootstrap: cannot listen on ${config.listen.bootstrap}: ${e.message}`);
    });
    const metricsAddr = await listen(sre, config.listen.metrics).catch((e: Error) => {
      throw new Error(`listen.metrics: cannot listen on ${config.listen.metrics}: ${e.message}`);
    });

    const addresses: Addresses = {
      admin: joinHostPort(splitHostPort(adminAddr).host, adminPort),
      bootstrap: bootstrapAddr,
      metrics: metricsAddr,
    };
    health.setStatus("", "SERVING");
    health.setStatus(AdminService.typeName, "SERVING");
    ready = true;
    log.info(
      {
        region: config.region.id,
        instance: config.instance.id,
        kind: config.instance.kind,
        embedded,
        dataDir,
        ...addresses,
        adminTls: config.tls.admin !== undefined,
        bootstrapTls: config.tls.bootstrap !== undefined,
      },
      "iotfedd ready",
    );

    return {
      addresses,
      async stop() {
        if (stopping) return;
        stopping = true;
        health.setStatus("", "NOT_SERVING");
        health.setStatus(AdminService.typeName, "NOT_SERVING");
        const deadline = config.shutdownTimeoutMs;
        await Promise.all([closeHttp(bootstrap, deadline), shutdownGrpc(admin, deadline), closeHttp(sre, deadline)]);
        db.close();
        log.info("iotfedd stopped");
      },
    };
  }
}
