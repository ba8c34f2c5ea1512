import { readFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { join, resolve } from "node:path";
import type { Server } from "node:http";
import * as grpc from "@grpc/grpc-js";
import type { LoadedConfig } from "../config/index.js";
import type { Logger } from "../log/index.js";
import { createSealer, hashToken, loadOperatorToken, loadSealKey } from "../security/index.js";
import { backupStore, createAccountsRepo, createAuditRepo, createAuthCodesRepo, createDevicesRepo, createGrantsRepo, createHandoffApplier, createJobsRepo, createProductsRepo, createRoutesRepo, openStore, streamDeviceRouteBlocks, type AuditEntry, type Db } from "../store/index.js";
import { createReplicator, type Replicator } from "../replication/index.js";
import { createEmbeddedBroker, createExternalBroker, type EmbeddedBroker } from "../mqtt/index.js";
import type { Endpoint, Product, RouteChange } from "../domain/index.js";
import { createCodeClock } from "./clock.js";
import { createPeerClients, createPeerServer, loadPeerTls, peerServerCredentials, type PeerClient } from "../peer/index.js";
import { createJobWorker, createPlacement } from "../jobs/index.js";
import { createClientIpResolver, createLocator, KNOWN_REGIONS, packagedCityDatabases, type LatLon } from "../geo/index.js";
import { RouteTable } from "../routes/index.js";
import { createMetrics } from "../metrics/index.js";
import { createBootstrapServer, createEdgeLimiter, createNearestResolver } from "../bootstrap/index.js";
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
  /** Peer gRPC listener; empty when no peers are configured. */
  peer: string;
  /** The embedded MQTT broker; empty when it is off. */
  mqtt: string;
  /** The external broker's HTTP hooks; empty when off. */
  mqttHooks: string;
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

/** The expiry (ms since the epoch) of the first certificate in a PEM file. */
function certificateNotAfter(file: string): number | undefined {
  try {
    const t = Date.parse(new X509Certificate(readFileSync(file)).validTo);
    return Number.isFinite(t) ? t : undefined;
  } catch {
    return undefined;
  }
}

/** Waits for `p` at most `ms`, leaving no timer behind. */
function withDeadline(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(done, ms);
    void p.finally(() => {
      clearTimeout(timer);
      done();
    });
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

  const { db, fromVersion, toVersion } = openStore(dataDir, config.limits.storeMaxBytes === undefined ? {} : { maxBytes: config.limits.storeMaxBytes });
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
    const selfId = config.instance.id;
    const self: Endpoint = { host: config.instance.mqtt.host, port: config.instance.mqtt.port };
    const peerById = new Map(config.peers.map((p) => [p.id, p]));
    const where = (id: string): string => {
      if (id === selfId) return `${config.region.id}/${id}`;
      const p = peerById.get(id);
      return p === undefined ? id : `${p.region}/${p.id}`;
    };
    const routes = new RouteTable();
    const sealer = createSealer(seal.key);
    const routeStore = createRoutesRepo(db);
    let replicator: Replicator | undefined;
    const kickReplication = (): void => replicator?.kick();

    // Where each instance's devices connect: this daemon's own endpoint, the
    // configured peers, then the federation directory (an instance's own
    // announcement wins over a peer entry written by hand).
    routes.setEndpoint(selfId, self);
    routes.setRegion(selfId, config.region.id);
    for (const p of config.peers) {
      routes.setEndpoint(p.id, p.mqtt);
      routes.setRegion(p.id, p.region);
    }
    for (const i of routeStore.instances()) {
      if (i.instanceId === selfId) continue;
      routes.setEndpoint(i.instanceId, { host: i.mqttHost, port: i.mqttPort });
      routes.setRegion(i.instanceId, i.regionId);
    }
    const regionOf = (id: string): string => routes.regionAt(routes.instance(id)) || "unknown";

    // A product made here is answered exactly: every device name is known.
    // A received copy falls back to its owner's endpoint for names it does not hold.
    const routeProduct = (p: Product): void => {
      routes.setProduct(p.productKey, p.ownerInstanceId, p.ownerInstanceId === selfId);
      refreshCandidates(p.productKey);
      kickReplication();
    };
    /**
     * A product's nearest-strategy candidates (R3) from whichever is newer:
     * the product here (the owner's, or a copy at its synced version) or its
     * replicated route. Both carry the owner's version.
     */
    function refreshCandidates(pk: string): void {
      const local = products.get(pk);
      const route = routeStore.product(pk);
      const fromRoute = route !== undefined && (local === undefined || (local.ownerInstanceId !== selfId && route.version > local.version));
      routes.setCandidates(pk, fromRoute ? (route.deleted ? [] : route.candidates) : (local?.candidates ?? []));
    }
    /** Nearest-placed (R3) when the device's route says so for this holder. */
    const isNearest = (pk: string, dn: string, holder: string): boolean => {
      const r = routeStore.device(pk, dn);
      return r !== undefined && r.nearest && r.holder === holder;
    };
    const routeDevice = (pk: string, dn: string, holder: string, disabled: boolean): void => {
      routes.setDevice(pk, dn, holder, disabled, isNearest(pk, dn, holder));
      kickReplication();
    };
    const productRouteSink = (p: Product, deleted: boolean): void => {
      // A product in the public pool (R17) shows its home's current version everywhere.
      const pooled = deleted ? undefined : routeStore.pool(p.productKey);
      if (pooled !== undefined && p.version > pooled.version) {
        routeStore.commit({ kind: "pool", route: products.poolEntry(p, pooled.accountName, pooled.pooledAt, selfId) }, true);
      }
      routeStore.commit(
        {
          kind: "product",
          route: {
            productKey: p.productKey,
            home: p.ownerInstanceId,
            version: p.version,
            deleted,
            candidates: p.candidates,
            accountId: p.accountId,
            productName: p.productName,
            nodeType: p.nodeType,
            status: p.status,
            regionId: config.region.id,
            committedBy: selfId,
            committedAt: Date.now(),
          },
        },
        true,
      );
    };
    const accounts = createAccountsRepo(db, { self: selfId, routes: routeStore });
    const adopted = accounts.adoptLocal();
    if (adopted > 0) log.info({ accounts: adopted }, "accounts made before the directory was replicated are published as this instance's");
    const productListener = {
      created: routeProduct,
      deleted: (pk: string) => {
        const r = routeStore.product(pk);
        if (r !== undefined && !r.deleted) routes.setProduct(pk, r.home, false);
        else routes.deleteProduct(pk);
        refreshCandidates(pk);
        kickReplication();
      },
    };
    const products = createProductsRepo(db, productListener, Date.now, productRouteSink);
    const deviceListener = { changed: routeDevice, deleted: (pk: string, dn: string) => routes.deleteDevice(pk, dn) };
    const devices = createDevicesRepo({ db, sealer, listener: deviceListener, self: selfId, where });
    // Late-bound: the embedded broker is built after the repositories.
    const hooks: { leaving?: (pk: string, dn: string) => void } = {};
    const jobs = createJobsRepo({ db, sealer, self: selfId, where, devices: deviceListener, routes: routeStore, leaving: (pk, dn) => hooks.leaving?.(pk, dn) });
    const authCodes = createAuthCodesRepo({ db, sealer, maxPerHour: config.crossAccount.codesPerHour, now: createCodeClock(env.IOTFED_CLOCK_OFFSET_FILE, log) });
    const grants = createGrantsRepo(db);
    const auditHook: { recorded?: (e: AuditEntry) => void } = {};
    const auditRepo = createAuditRepo(db);
    const audit = {
      ...auditRepo,
      record(e: AuditEntry): void {
        auditRepo.record(e);
        auditHook.recorded?.(e);
      },
    };
    const applier = createHandoffApplier({
      db,
      sealer,
      self: selfId,
      where,
      products: productListener,
      devices: deviceListener,
      getProduct: (pk) => products.get(pk),
      routes: routeStore,
    });

    // This instance's directory entry, announced when it changes.
    const announced = routeStore.instances().find((i) => i.instanceId === selfId);
    if (announced === undefined || announced.mqttHost !== self.host || announced.mqttPort !== self.port || announced.regionId !== config.region.id) {
      const t = Date.now();
      routeStore.commit(
        { kind: "instance", route: { instanceId: selfId, regionId: config.region.id, mqttHost: self.host, mqttPort: self.port, version: Math.max(t, (announced?.version ?? 0) + 1), committedAt: t } },
        true,
      );
    }

    // Start-up load: replicated routes first, then what this daemon holds or
    // made itself, which is newer wherever both exist.
    const t0 = performance.now();
    for (const p of routeStore.products()) {
      if (p.deleted) continue;
      routes.setProduct(p.productKey, p.home, false);
      if (p.candidates.length > 0) refreshCandidates(p.productKey);
    }
    for (const p of products.all()) {
      routes.setProduct(p.productKey, p.ownerInstanceId, p.ownerInstanceId === selfId);
      if (p.candidates.length > 0) refreshCandidates(p.productKey);
    }
    routes.reserveDevices(routeStore.counts().devices + devices.countAll());
    await streamDeviceRouteBlocks(dataDir, (block) => routes.loadDeviceBlock(block));
    routes.endLoad();
    for (const d of devices.routeEntries()) routes.setDevice(d.productKey, d.deviceName, d.holder, d.disabled);
    // Nearest-placed devices (R3) carry a flag the blocks do not.
    for (const r of routeStore.nearestDevices()) {
      const disabled = r.holder === selfId && devices.get(r.productKey, r.deviceName)?.disabled === true;
      routes.setDevice(r.productKey, r.deviceName, r.holder, disabled, true);
    }
    log.info({ ...routes.stats(), lastRevision: routeStore.lastRevision(), ms: Math.round(performance.now() - t0) }, "route table loaded");

    /** Brings the route table up to records applied from the stream. */
    const applyReplicated = (changes: RouteChange[]): void => {
      for (const c of changes) {
        if (c.kind === "device") {
          const r = c.route;
          // Holder changes that this store did not see (it was restored from
          // an older backup) are brought into the device rows. In normal
          // operation the table already agrees, and nothing is read.
          if ((routes.deviceHolder(r.productKey, r.deviceName) === selfId) !== (r.holder === selfId)) {
            const done = devices.reconcileRoute(r.productKey, r.deviceName, r.holder, r.generation);
            if (done === "missing") log.warn({ product: r.productKey, device: r.deviceName, holder: r.holder, generation: r.generation }, "a route says this instance holds a device it has no certificate of (received after the restored backup): distribute it again from its source");
            else if (done !== undefined) log.info({ product: r.productKey, device: r.deviceName, now: done, holder: r.holder, generation: r.generation }, "device row brought up to its newer route");
          }
          const local = r.holder === selfId ? devices.get(r.productKey, r.deviceName) : undefined;
          routes.setDevice(r.productKey, r.deviceName, r.holder, local?.disabled ?? false, r.nearest);
        } else if (c.kind === "product") {
          const r = c.route;
          refreshCandidates(r.productKey);
          if (products.get(r.productKey) !== undefined) continue; // what is here is answered from here
          if (r.deleted) routes.deleteProduct(r.productKey);
          else routes.setProduct(r.productKey, r.home, false);
        } else if (c.kind === "instance" && c.route.instanceId !== selfId) {
          routes.setEndpoint(c.route.instanceId, { host: c.route.mqttHost, port: c.route.mqttPort });
          routes.setRegion(c.route.instanceId, c.route.regionId);
        }
      }
    };

    const metrics = createMetrics();
    auditHook.recorded = (e) => {
      metrics.audited.inc({ action: e.action, result: e.result });
      log.info({ action: e.action, result: e.result, actor: e.actorKind, account: e.accountId, other: e.otherAccount, product: e.productKey, device: e.deviceName, subject: e.subjectId }, "cross-account action");
    };
    metrics.buildInfo.set({ version: VERSION, region: config.region.id, instance: config.instance.id, kind: config.instance.kind }, 1);
    metrics.setSources({
      routeTable: () => routes.stats(),
      deviceCounts: () => devices.countByStatus(),
      jobCounts: () => jobs.countByStatus(),
      outboxDepth: () => ({ jobDevices: jobs.outboxDepth(), productSync: products.staleCopyCount() }),
      replication: () => replicator?.snapshot(),
      mqttOnline: () => broker?.onlineCount(),
    });
    let broker: EmbeddedBroker | undefined;
    if (config.replication !== undefined) {
      const r = config.replication;
      replicator = createReplicator({
        servers: r.servers,
        bucket: r.bucket,
        replicas: r.replicas,
        ...(r.placementCluster === undefined ? {} : { placementCluster: r.placementCluster }),
        ...(r.mirror === undefined ? {} : { mirror: { stream: r.mirror.stream, ...(r.mirror.cluster === undefined ? {} : { cluster: r.mirror.cluster }) } }),
        ...(r.credsFile === undefined ? {} : { credsFile: r.credsFile }),
        ...(r.caFile === undefined ? {} : { caFile: r.caFile }),
        self: selfId,
        routes: routeStore,
        publishBatch: r.publishBatch,
        staleAfterMs: r.staleAfterMs,
        onApplied: applyReplicated,
        metrics,
        logger: log,
      });
    }

    const peerTls = config.peer.tls === undefined ? undefined : loadPeerTls(config.peer.tls);
    // Certificate expiry, for the alert that pages before a certificate lapses.
    const certFiles: [string, string | undefined][] = [
      ["peer", config.peer.tls?.certFile],
      ["peer_ca", config.peer.tls?.caFile],
      ["admin", config.tls.admin?.certFile],
      ["bootstrap", config.tls.bootstrap?.certFile],
    ];
    for (const [cert, file] of certFiles) {
      if (file === undefined) continue;
      const notAfter = certificateNotAfter(file);
      if (notAfter !== undefined) metrics.certificateExpiry.set({ cert }, Math.floor(notAfter / 1000));
      else log.warn({ cert, file }, "cannot read the certificate's expiry");
    }
    const peerClients: Map<string, PeerClient> = peerTls === undefined ? new Map<string, PeerClient>() : createPeerClients(config.peers, peerTls, config.peer.callTimeoutMs);
    const worker = createJobWorker({
      jobs,
      products,
      peers: peerClients,
      self: selfId,
      regionId: config.region.id,
      batchSize: config.peer.batchSize,
      retryWindowMs: config.peer.retryWindowMs,
      retryFailedPlacementsAfterMs: config.placement.retryFailedAfterMs,
      // The worker starts below, after `placement` exists.
      onJobChange: (job) => placement.jobChanged(job),
      metrics,
      logger: log,
    });
    const placement = createPlacement({
      self: selfId,
      regionOf,
      jobs,
      products,
      routes: routeStore,
      peers: peerClients,
      kickWorker: () => worker.kick(),
      waitMs: config.placement.waitMs,
      unreachableBackoffMs: config.placement.unreachableBackoffMs,
      maxInFlight: config.placement.maxInFlight,
      learned: (route) => {
        // Applied like a record from the stream: only a higher generation.
        if (routeStore.commit({ kind: "device", route }, false)) routes.setDevice(route.productKey, route.deviceName, route.holder, false, route.nearest);
      },
      metrics,
      logger: log,
    });

    // IP location for the nearest strategy (R3).
    const regionAt = (region: string): LatLon | undefined =>
      config.geo.regions[region] ??
      (region === config.region.id && config.region.latitude !== undefined && config.region.longitude !== undefined
        ? { latitude: config.region.latitude, longitude: config.region.longitude }
        : KNOWN_REGIONS[region]);
    const geoStarted = performance.now();
    // A daemon alone has nowhere to move a device: it loads the packaged
    // databases (about 130 MB) only in a federation, unless configured to.
    const federated = config.peers.length > 0 || config.replication !== undefined;
    const locator = createLocator({
      databases: config.geo.databases ?? (federated ? packagedCityDatabases() : []),
      overrides: config.geo.overrides,
      regionAt,
      cacheSize: config.geo.cacheSize,
    });
    log.info({ databases: locator.databases().map((d) => ({ path: d.path, type: d.type, builtAt: d.builtAt.toISOString() })), overrides: config.geo.overrides.length, ms: Math.round(performance.now() - geoStarted) }, "geo location ready");
    if (regionAt(config.region.id) === undefined) {
      log.warn({ region: config.region.id }, "no coordinates for this region (set region.latitude/longitude): the nearest strategy skips it");
    }

    let ready = false;
    let stopping = false;
    const { server: admin, health } = createAdminServer({
      accounts,
      products,
      devices,
      regionId: config.region.id,
      instanceId: config.instance.id,
      maxDevicesPerBatch: config.limits.devicesPerBatch,
      jobs,
      peers: config.peers,
      where,
      kickWorker: () => worker.kick(),
      instanceKind: config.instance.kind,
      peerClient: (id) => peerClients.get(id),
      authCodes,
      grants,
      audit,
      routes: routeStore,
      kickReplication,
      grantInstanceKinds: config.grants.instanceKinds,
      backup: async (name) => {
        const r = await backupStore(db, resolve(config.backupDir ?? join(dataDir, "backups")), name);
        log.info({ path: r.path, bytes: r.bytes, lastRevision: r.lastRevision, ms: r.ms }, "store backed up");
        return r;
      },
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

    let peerServer: grpc.Server | undefined;
    let peerAddr = "";
    if (peerTls !== undefined && config.peers.length > 0) {
      peerServer = createPeerServer({
        self: selfId,
        endpoint: self,
        peers: new Set(peerById.keys()),
        applier,
        products,
        maxDevicesPerCall: Math.max(config.peer.batchSize, config.limits.devicesPerBatch),
        place: (pk, dn, target, waitMs) => placement.placeHere(pk, dn, target, waitMs),
        maxPlaceWaitMs: 30000,
        accounts,
        authCodes,
        audit,
        codeIssued: (e) => {
          // R4: delivered to the target account only: its admin API, and its
          // subject for integrations (the digits only where configured).
          const subject = `${config.crossAccount.eventSubjectPrefix}.${e.targetAccountId}.authcode`;
          const event = {
            type: "authcode.issued",
            codeId: e.codeId,
            ...(config.crossAccount.eventsIncludeCode ? { code: e.code } : {}),
            requesterAccountId: e.requesterAccountId,
            requesterAccountName: e.requesterAccountName,
            targetAccountId: e.targetAccountId,
            regionId: config.region.id,
            instanceId: selfId,
            expireTimeMs: e.expiresAt,
          };
          replicator?.publishEvent(subject, new TextEncoder().encode(JSON.stringify(event)));
        },
        metrics,
        logger: log,
      });
      const ps = peerServer;
      const port = await new Promise<number>((ok, fail) =>
        ps.bindAsync(config.peer.listen, peerServerCredentials(peerTls), (err, p) =>
          err ? fail(new Error(`peer.listen: cannot listen on ${config.peer.listen}: ${err.message}`)) : ok(p),
        ),
      );
      peerAddr = joinHostPort(splitHostPort(config.peer.listen).host, port);
    }

    const clientIp = createClientIpResolver(config.placement.trustedProxies);
    const limiter = createEdgeLimiter(
      {
        maxConnections: config.limits.bootstrapMaxConnections,
        maxConnectionsPerIp: config.limits.bootstrapMaxConnectionsPerIp,
        ratePerIp: config.limits.bootstrapRatePerIp,
        burst: config.limits.bootstrapBurstPerIp,
        maxTracked: 200_000,
      },
      (reason) => metrics.bootstrapShed.labels(reason).inc(),
    );
    const bootstrap = createBootstrapServer({
      routes,
      metrics,
      logger: log,
      limiter,
      clientIp,
      maxBodyBytes: config.limits.bootstrapMaxBodyBytes,
      requestTimeoutMs: config.limits.bootstrapRequestTimeoutMs,
      keepAliveMs: config.limits.bootstrapKeepAliveMs,
      nearest: createNearestResolver({
        routes,
        locator,
        clientIp,
        regionAt,
        place: (pk, dn, holder, target) => placement.request(pk, dn, holder, target),
        metrics,
      }),
      ...(config.tls.bootstrap === undefined ? {} : { tls: readTls(config.tls.bootstrap, "tls.bootstrap") }),
    });
    servers.push(bootstrap);
    const sre = createSreServer({
      registry: metrics.registry,
      notReady: () => (stopping ? "shutting down" : ready ? undefined : "starting"),
      degraded: () => replicator?.stale(),
    });
    servers.push(sre);
    let mqttAddr = "";
    // The embedded default runs its own MQTT endpoint too, unless the port
    // is taken (a host's own broker on 1883): then it says so and goes on.
    if (config.mqtt.broker.enabled || embedded) {
      const b = config.mqtt.broker;
      broker = await createEmbeddedBroker({
        devices,
        products,
        ...(b.tls === undefined ? {} : { tls: readTls(b.tls, "mqtt.broker.tls") }),
        notifyGraceMs: b.notifyGraceMs,
        metrics,
        logger: log,
      });
      const eb = broker;
      hooks.leaving = (pk, dn) => eb.deviceLeaving(pk, dn);
      mqttAddr = await listen(eb.server, b.listen).catch(async (e: Error) => {
        if (!embedded) throw new Error(`mqtt.broker.listen: cannot listen on ${b.listen}: ${e.message}`);
        log.warn({ listen: b.listen, err: e.message }, "embedded default: the MQTT broker did not start (its port is in use); devices cannot sign in here");
        await eb.close();
        broker = undefined;
        delete hooks.leaving;
        return "";
      });
    }
    let mqttHooksAddr = "";
    let hooksServer: Server | undefined;
    if (config.mqtt.external.enabled) {
      const x = config.mqtt.external;
      const secretFile = (file: string, key: string): string => {
        try {
          return readFileSync(file, "utf8").trim();
        } catch (e) {
          throw new Error(`${key}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
        }
      };
      const credentials = x.api === undefined ? undefined : secretFile(x.api.credentialsFile, "mqtt.external.api.credentialsFile");
      if (credentials !== undefined && !credentials.includes(":")) throw new Error("mqtt.external.api.credentialsFile: must hold <api key>:<api secret>");
      const ext = createExternalBroker({
        devices,
        products,
        token: secretFile(x.tokenFile!, "mqtt.external.tokenFile"),
        ...(x.api === undefined || credentials === undefined
          ? {}
          : { api: { url: x.api.url, key: credentials.slice(0, credentials.indexOf(":")), secret: credentials.slice(credentials.indexOf(":") + 1) } }),
        notifyGraceMs: x.notifyGraceMs,
        metrics,
        logger: log,
      });
      const previous = hooks.leaving;
      hooks.leaving = (pk, dn) => {
        previous?.(pk, dn);
        ext.deviceLeaving(pk, dn);
      };
      servers.push(ext.server);
      hooksServer = ext.server;
      mqttHooksAddr = await listen(ext.server, x.listen).catch((e: Error) => {
        throw new Error(`mqtt.external.listen: cannot listen on ${x.listen}: ${e.message}`);
      });
    }
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
      peer: peerAddr,
      mqtt: mqttAddr,
      mqttHooks: mqttHooksAddr,
    };
    worker.start();
    replicator?.start();
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
        peers: config.peers.length,
        replication: config.replication === undefined ? "off" : config.replication.servers.join(","),
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
        await Promise.all([
          closeHttp(bootstrap, deadline),
          shutdownGrpc(admin, deadline),
          closeHttp(sre, deadline),
          ...(hooksServer === undefined ? [] : [closeHttp(hooksServer, deadline)]),
          ...(peerServer === undefined ? [] : [shutdownGrpc(peerServer, deadline)]),
          withDeadline(worker.stop(), deadline),
          ...(replicator === undefined ? [] : [withDeadline(replicator.stop(), deadline)]),
          ...(broker === undefined ? [] : [withDeadline(broker.close(), deadline)]),
        ]);
        limiter.close();
        for (const c of peerClients.values()) (c as { close(): void }).close();
        db.close();
        log.info("iotfedd stopped");
      },
    };
  }
}
