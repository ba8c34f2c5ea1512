import { join, resolve } from "node:path";
import type { Server as NetServer } from "node:net";
import * as grpc from "@grpc/grpc-js";
import type { LoadedConfig } from "../config/index.js";
import type { Logger } from "../log/index.js";
import { ConfigurationError, createEventHub } from "../domain/index.js";
import { createSealer, hashToken, loadOperatorToken, loadSealKey } from "../security/index.js";
import { backupStore, createReplicationStore, createRepositories, openStore, type Db, type StoreEvents } from "../store/index.js";
import { createInstanceDirectory, createRouteSync } from "../routing/index.js";
import { RouteTable } from "../routes/index.js";
import { createReplicator, type Replicator } from "../replication/index.js";
import { createPeerServer, loadPeerTls, peerServerCredentials } from "../peer/index.js";
import { createJobEvents, createJobWorker, createPlacement } from "../jobs/index.js";
import { createClientIpResolver, createLocator, packagedCityDatabases } from "../geo/index.js";
import { createMetrics } from "../metrics/index.js";
import { createNearestResolver } from "../bootstrap/index.js";
import { createAdminServer, createForwardedJobCalls } from "../admin/index.js";
import { AdminService } from "../gen/iotfed/v1/admin_pb.js";
import type { ReplicationStateSchema } from "../gen/iotfed/v1/replication_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { createCodeClock } from "./clock.js";
import { createSreServer } from "./sre-server.js";
import { joinHostPort, listen, splitHostPort } from "./listen.js";
import { certificateNotAfter, readSecretFile, readTls } from "./files.js";
import { closeHttp, shutdownGrpc, withDeadline } from "./shutdown.js";
import { startDeviceBrokers } from "./device-brokers.js";
import { startThingRuntime } from "./thing.js";
import { authCodeEvents } from "./authcode-events.js";
import { regionCoordinates } from "./regions.js";
import { startTrust, type Trust } from "./trust.js";
import { startPeerLinks } from "./peer-links.js";
import { preflight } from "./preflight.js";
import { startEdge } from "./edge.js";
import { createConsoleServer } from "../console/index.js";

export const VERSION = "0.1.0";

/** The peer address this daemon's instance record gives: its listener, unless that is a wildcard or port 0 (then none until bound). */
function advertisedPeerAddress(listenAddr: string): string {
  const { host, port } = splitHostPort(listenAddr);
  return host === "0.0.0.0" || host === "::" || host === "" || port === 0 ? "" : listenAddr;
}

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
  /** The web console; empty when off. */
  console: string;
}

export interface Daemon {
  readonly addresses: Addresses;
  /** Stops accepting, drains in-flight work up to the deadline, closes the store. */
  stop(): Promise<void>;
}

/** Binds a gRPC server; a failure names the configuration key of the address. */
function bindGrpc(server: grpc.Server, addr: string, creds: grpc.ServerCredentials, key: string): Promise<string> {
  return new Promise((ok, fail) =>
    server.bindAsync(addr, creds, (err, port) =>
      err ? fail(new ConfigurationError(key, `cannot listen on ${addr}: ${err.message}`, { cause: err })) : ok(joinHostPort(splitHostPort(addr).host, port)),
    ),
  );
}

/** Listens with an HTTP-style server; a failure names the configuration key of the address. */
function listenAt(server: NetServer, addr: string, key: string): Promise<string> {
  return listen(server, addr).catch((e: Error) => {
    throw new ConfigurationError(key, `cannot listen on ${addr}: ${e.message}`, { cause: e });
  });
}

/**
 * The composition root: builds every part from the configuration, in
 * phases, and starts the listeners. Components get everything at
 * construction; committed changes reach the parts that follow them through
 * one event hub. Nothing else in the code base knows all the parts.
 */
export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const { config, embedded } = opts.loaded;
  const env = opts.env ?? process.env;
  const log = opts.logger;
  const dataDir = resolve(config.dataDir);

  // Phase 0: safe defaults, secrets and the store.
  preflight(config, env);
  if (!config.testHooks && env.IOTFED_CLOCK_OFFSET_FILE !== undefined) log.error("IOTFED_CLOCK_OFFSET_FILE is set but testHooks is off: ignored");
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
  const started: { close(): void }[] = [];
  try {
    return await build(db);
  } catch (e) {
    for (const s of started) s.close();
    db.close();
    throw e;
  }

  async function build(db: Db): Promise<Daemon> {
    const hub = createEventHub<StoreEvents>((event, err) => log.error({ err, event }, "a follower of committed changes failed"));
    const metrics = createMetrics();

    // Phase 1: the replicated records, the instance directory, the repositories.
    const replicationStore = createReplicationStore(db, hub);
    const peerTls = config.peer.tls === undefined ? undefined : loadPeerTls(config.peer.tls);
    const late: { trust?: Trust; replicator?: Replicator | undefined } = {}; // what is made below, for what is made before it
    /** The peer listener's address once bound (a configured port 0 is known only then). */
    let boundPeerAddress = "";
    const signingCertificate = (): Uint8Array[] => (trust?.signingKey === undefined ? [] : [trust.signingKey.certificate]);
    const directory = createInstanceDirectory({
      self: { id: config.instance.id, region: config.region.id, kind: config.instance.kind, mqtt: { host: config.instance.mqtt.host, port: config.instance.mqtt.port } },
      peers: config.peers,
      records: replicationStore.records,
      identity: () => ({ certificates: signingCertificate(), peerAddress: peerTls === undefined ? "" : (config.peer.advertiseAddress ?? advertisedPeerAddress(boundPeerAddress || config.peer.listen)) }),
      isMember: (id) => late.trust?.members.known(id) === true && !late.trust.members.isRevoked(id),
      isRevoked: (id) => late.trust?.members.isRevoked(id) === true,
    });
    const repos = createRepositories({
      ...replicationStore,
      db,
      sealer: createSealer(seal.key),
      hub,
      self: directory.self.id,
      regionId: directory.self.region,
      where: (id) => directory.where(id),
      codesPerHour: config.crossAccount.codesPerHour,
      codeClock: createCodeClock(config.testHooks ? env.IOTFED_CLOCK_OFFSET_FILE : undefined, log),
      runtimeData: config.runtimeData,
    });
    const { records, accounts, products, devices, jobs } = repos;
    // Stored device data goes out on the replication connection, once it exists (phase 3).
    const thing = startThingRuntime({ config, repos, hub, publish: (subject, data) => late.replicator?.publishEvent(subject, data) ?? false, publishing: () => late.replicator?.connected() === true, metrics, logger: log });
    started.push({ close: () => thing.close() });
    const trust = startTrust({ config, peerTls, records, products, audit: repos.audit, logger: log });
    late.trust = trust;
    started.push({ close: () => void trust.close() });
    directory.announceSelf();
    if (trust.signingKey !== undefined) {
      const requeued = records.useSigningKey(trust.signingKey.keyId.toString("hex"), directory.self.id);
      if (requeued > 0) log.info({ records: requeued }, "this daemon's records are published again, signed with its current key");
    }
    const adopted = accounts.adoptLocal();
    if (adopted > 0) log.info({ accounts: adopted }, "accounts made before the directory was replicated are published as this instance's");
    hub.on("audit.recorded", (e) => {
      metrics.audited.inc({ action: e.action, result: e.result });
      log.info({ action: e.action, result: e.result, actor: e.actorKind, account: e.accountId, other: e.otherAccount, product: e.productKey, device: e.deviceName, subject: e.subjectId }, "cross-account action");
    });

    // Phase 2: the in-memory route table (the bootstrap hot path), loaded and kept in step.
    const routeTable = new RouteTable();
    const routeSync = createRouteSync({ routeTable, directory, records, products, devices, hub, logger: log });
    const loaded = await routeSync.load(dataDir);
    log.info({ ...loaded, lastRevision: records.lastRevision() }, "route table loaded");

    // Phase 3: replication, the peer plane, jobs and placement.
    const replicator =
      config.replication === undefined
        ? undefined
        : createReplicator({
            ...config.replication,
            self: directory.self.id,
            signingKey: trust.signingKey,
            gate: trust.gate,
            onRefused: (refused) => trust.auditRefused(refused),
            records,
            outbox: repos.outbox,
            hub,
            onApplied: (changes) => {
              routeSync.applyReplicated(changes);
              if (changes.some((c) => c.kind === "instance")) links.followMembers();
            },
            metrics,
            logger: log,
          });
    late.replicator = replicator;
    const links = startPeerLinks({ config, peerTls, directory, trust, records, logger: log });
    started.push({ close: () => links.close() });
    const peerClients = links.clients;
    const worker = createJobWorker({
      jobs,
      products,
      peers: peerClients,
      self: directory.self.id,
      regionId: directory.self.region,
      batchSize: config.peer.batchSize,
      retryWindowMs: config.peer.retryWindowMs,
      retryFailedPlacementsAfterMs: config.placement.retryFailedAfterMs,
      hub,
      signingKey: trust.signingKey,
      metrics,
      logger: log,
    });
    const jobEvents = createJobEvents({
      repo: repos.jobEvents,
      hub,
      self: directory.self,
      regionOf: (id) => directory.regionOf(id),
      subjectPrefix: config.jobs.eventSubjectPrefix,
      progressEvery: config.jobs.progressEvery,
      webhooks: config.jobs.webhooks.map((w, i) => ({ url: w.url, secret: readSecretFile(w.secretFile, `jobs.webhooks[${i}].secretFile`) })),
      maxAttempts: config.jobs.webhookMaxAttempts,
      timeoutMs: config.jobs.webhookTimeoutMs,
      publish: (subject, data) => replicator?.publishEvent(subject, data),
      metrics,
      logger: log,
    });
    const placement = createPlacement({
      self: directory.self.id,
      regionOf: (id) => directory.regionOf(id),
      jobs,
      products,
      records,
      hub,
      peers: peerClients,
      kickWorker: () => worker.kick(),
      waitMs: config.placement.waitMs,
      unreachableBackoffMs: config.placement.unreachableBackoffMs,
      maxInFlight: config.placement.maxInFlight,
      minMoveIntervalMs: config.placement.minMoveIntervalMs,
      learned: (route) => routeSync.learned(route),
      metrics,
      logger: log,
    });

    // IP location for the nearest strategy (R3). A daemon alone has nowhere
    // to move a device: it loads the packaged databases (about 130 MB) only
    // in a federation, unless configured to.
    const regionAt = regionCoordinates(config);
    const geoStarted = performance.now();
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

    /** This daemon's replication now, for QueryFederation and a peer's DescribeReplication. */
    const replicationStatus = (): MessageInitShape<typeof ReplicationStateSchema> => {
      const r = replicator?.snapshot();
      if (r === undefined) return { enabled: false };
      return { enabled: true, connected: r.connected, lastRevision: BigInt(r.lastRevision), revisionsBehind: BigInt(r.revisionsBehind), lagSeconds: r.lagSeconds, outboxRows: BigInt(r.outboxRows), stale: replicator?.stale() ?? "" };
    };

    // Phase 4: the listeners.
    let ready = false;
    let stopping = false;
    const { server: admin, health, service: adminService, connect: adminConnect } = createAdminServer({
      repos,
      directory,
      maxDevicesPerBatch: config.limits.devicesPerBatch,
      kickWorker: () => worker.kick(),
      abortJob: (jobId, force, waitMs) => worker.abort(jobId, force, waitMs),
      peerClient: (id) => peerClients.get(id),
      grantInstanceKinds: config.grants.instanceKinds,
      status: () => ({ replication: replicationStatus(), routes: routeTable.stats() }),
      // A revoked member has no client (peer-links drops it): it shows as not a peer.
      peerReplication: (id, ms) => peerClients.get(id)?.describeReplication({}, { deadlineMs: ms }),
      thing: thing.runtime,
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
    started.push({ close: () => admin.forceShutdown() });
    const adminCreds =
      config.tls.admin === undefined
        ? grpc.ServerCredentials.createInsecure()
        : (() => {
            const t = readTls(config.tls.admin, "tls.admin");
            return grpc.ServerCredentials.createSsl(null, [{ cert_chain: t.cert, private_key: t.key }], false);
          })();
    const adminAddr = await bindGrpc(admin, config.listen.admin, adminCreds, "listen.admin");

    let peerServer: grpc.Server | undefined;
    let peerAddr = "";
    if (peerTls !== undefined) {
      peerServer = createPeerServer({
        self: directory.self.id,
        replication: replicationStatus,
        endpoint: directory.self.mqtt,
        isPeer: (id) => directory.peer(id) !== undefined,
        applier: repos.handoff,
        products,
        maxDevicesPerCall: Math.max(config.peer.batchSize, config.limits.devicesPerBatch),
        place: (pk, dn, target, waitMs) => placement.placeHere(pk, dn, target, waitMs),
        maxPlaceWaitMs: 30000,
        accounts,
        authCodes: repos.authCodes,
        audit: repos.audit,
        forwardedJobCall: createForwardedJobCalls(adminService),
        members: trust.members,
        signingKey: trust.signingKey,
        ownership: trust.view,
        productRoute: (pk) => records.product(pk),
        replicated: config.replication !== undefined,
        releasesRequired: () => config.replication?.signatures !== "optional",
        codeIssued: authCodeEvents({ crossAccount: config.crossAccount, self: directory.self, publish: (subject, data) => replicator?.publishEvent(subject, data) }),
        metrics,
        logger: log,
      });
      const ps = peerServer;
      started.push({ close: () => ps.forceShutdown() });
      const peerCreds = peerServerCredentials(peerTls);
      links.onRenewed((t) => peerCreds.renew(t));
      peerAddr = await bindGrpc(ps, config.peer.listen, peerCreds, "peer.listen");
      boundPeerAddress = peerAddr;
      directory.announceSelf(); // with the bound address, when the configured one named port 0
    }

    const clientIp = createClientIpResolver(config.placement.trustedProxies);
    const nearest = createNearestResolver({
      routeTable,
      locator,
      clientIp,
      regionAt,
      place: (pk, dn, holder, target) => placement.request(pk, dn, holder, target),
      metrics,
    });
    const edge = startEdge({ config, embedded, routeTable, nearest, clientIp, dataDir, metrics, logger: log });
    started.push({ close: () => edge.kill() });
    const consoleServer =
      config.listen.console === undefined ? undefined : createConsoleServer({ connect: adminConnect, tls: config.tls.console === undefined ? undefined : readTls(config.tls.console, "tls.console") });
    if (consoleServer !== undefined) started.push(consoleServer);
    const sre = createSreServer({
      metrics,
      notReady: () => (stopping ? "shutting down" : ready ? edge.notServing() : "starting"),
      degraded: () => replicator?.stale(),
    });
    started.push(sre);
    const brokers = await startDeviceBrokers({ config, embedded, devices, products, hub, thing: thing.runtime, metrics, logger: log });
    started.push({ close: () => void brokers.close(0) });

    metrics.buildInfo.set({ version: VERSION, region: config.region.id, instance: config.instance.id, kind: config.instance.kind }, 1);
    metrics.setSources({
      routeTable: () => routeTable.stats(),
      deviceCounts: () => devices.countByStatus(),
      jobCounts: () => jobs.countByStatus(),
      outboxDepth: () => ({ jobDevices: jobs.outboxDepth(), productSync: products.staleCopyCount() }),
      replication: () => replicator?.snapshot(),
      mqttOnline: () => brokers.onlineCount(),
    });
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

    const addresses: Addresses = {
      admin: adminAddr,
      bootstrap: await edge.listen(),
      metrics: await listenAt(sre, config.listen.metrics, "listen.metrics"),
      console: consoleServer === undefined ? "" : await listenAt(consoleServer, config.listen.console!, "listen.console"),
      peer: peerAddr,
      mqtt: brokers.mqtt,
      mqttHooks: brokers.mqttHooks,
    };
    worker.start();
    jobEvents.start();
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
        edgeWorkers: edge.workers,
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
        // Whether every writer stopped within the deadline (then nothing writes after).
        let stoppedAll = true;
        const writer = (p: Promise<unknown>): Promise<void> => {
          let done = false;
          return withDeadline(
            p.finally(() => (done = true)),
            deadline,
          ).then(() => {
            if (!done) stoppedAll = false;
          });
        };
        await Promise.all([
          edge.stop(deadline),
          writer(shutdownGrpc(admin, deadline)),
          closeHttp(sre, deadline),
          ...(consoleServer === undefined ? [] : [closeHttp(consoleServer, deadline)]),
          ...(peerServer === undefined ? [] : [writer(shutdownGrpc(peerServer, deadline))]),
          writer(worker.stop()),
          writer(jobEvents.stop()),
          ...(replicator === undefined ? [] : [writer(replicator.stop())]),
          writer(brokers.close(deadline)),
        ]);
        links.close();
        await trust.close();
        thing.close();
        if (stoppedAll) {
          try {
            const t0 = performance.now();
            const bytes = routeSync.saveSnapshot(dataDir);
            log.info({ bytes, ms: Math.round(performance.now() - t0) }, "route snapshot written: the next start-up reads it instead of the store's routes");
          } catch (e) {
            log.warn({ err: (e as Error).message }, "route snapshot not written: the next start-up loads the routes from the store");
          }
        }
        db.close();
        log.info("iotfedd stopped");
      },
    };
  }
}
