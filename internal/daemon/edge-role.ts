import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { LoadedConfig } from "../config/index.js";
import type { Logger } from "../log/index.js";
import { ConfigurationError, createEventHub } from "../domain/index.js";
import { createSealer } from "../security/index.js";
import { createReplicationStore, createRepositories, openStore, type StoreEvents } from "../store/index.js";
import { createInstanceDirectory, createRouteSync } from "../routing/index.js";
import { RouteTable } from "../routes/index.js";
import { createReplicator } from "../replication/index.js";
import { createClientIpResolver } from "../geo/index.js";
import { createMetrics } from "../metrics/index.js";
import { createSreServer } from "./sre-server.js";
import { listen } from "./listen.js";
import { closeHttp, withDeadline } from "./shutdown.js";
import { startTrust } from "./trust.js";
import { startEdge } from "./edge.js";
import { VERSION, type Daemon } from "./daemon.js";

export interface EdgeRoleOptions {
  loaded: LoadedConfig;
  logger: Logger;
}

/** How often readiness looks whether the edge has caught up with the routes stream. */
const CATCH_UP_POLL_MS = 200;

/**
 * `iotfedd --role edge` (docs/guides/device-edge.md "Stateless edges"): the
 * device edge of a region and nothing else. It follows the routes bucket
 * like a daemon — every record checked by the same gate (signed by its
 * owner, against the federation CA) — into a local replica that is a cache,
 * not an authority: it holds no certificate, secret, account or admin
 * plane, publishes nothing, and can be deleted at any time (the next
 * start-up reads the bucket again). A clean stop leaves a route snapshot
 * for a fast restart, answered from before NATS is reachable; /readyz says
 * ready only once the edge has caught up with the stream.
 */
export async function startEdgeRole(opts: EdgeRoleOptions): Promise<Daemon> {
  const { config } = opts.loaded;
  const log = opts.logger.child({ role: "edge" });
  if (config.replication === undefined) throw new ConfigurationError("replication", "is required with --role edge: an edge answers from the routes bucket it follows");
  if (config.peer.tls !== undefined) throw new ConfigurationError("peer.tls", "an edge (--role edge) holds no member's key: remove it, and give the federation CA as edge.caFile");
  if (config.edge.caFile === undefined && config.replication.signatures === "required") {
    throw new ConfigurationError("edge.caFile", "is required with --role edge while replication.signatures is required: records are checked against the federation CA");
  }
  const ca = (() => {
    if (config.edge.caFile === undefined) return undefined;
    try {
      return readFileSync(config.edge.caFile);
    } catch (e) {
      throw new ConfigurationError("edge.caFile", `cannot read ${config.edge.caFile}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
    }
  })();
  const dataDir = resolve(config.dataDir);
  const { db } = openStore(dataDir);
  const closers: (() => void)[] = [() => db.close()];
  try {
    const hub = createEventHub<StoreEvents>((event, err) => log.error({ err, event }, "a follower of committed changes failed"));
    const metrics = createMetrics();
    const replicationStore = createReplicationStore(db, hub);
    const directory = createInstanceDirectory({
      self: { id: config.instance.id, region: config.region.id, kind: config.instance.kind, mqtt: { host: config.instance.mqtt.host, port: config.instance.mqtt.port } },
      peers: [],
      records: replicationStore.records,
    });
    // The replica's other tables stay empty: nothing is registered, held or sealed here.
    const repos = createRepositories({ ...replicationStore, db, sealer: createSealer(randomBytes(32)), hub, self: directory.self.id, regionId: directory.self.region, where: (id) => directory.where(id) });
    const { records } = repos;
    const trust = startTrust({ config, peerTls: undefined, checkOnly: { ca, revocationFile: config.edge.revocationFile, key: "edge.revocationFile" }, records, products: repos.products, audit: repos.audit, logger: log });
    closers.push(() => void trust.close());

    const routeTable = new RouteTable();
    const routeSync = createRouteSync({ routeTable, directory, records, products: repos.products, devices: repos.devices, hub, logger: log });
    const loaded = await routeSync.load(dataDir);
    log.info({ ...loaded, lastRevision: records.lastRevision() }, "route table loaded");

    const replicator = createReplicator({
      ...config.replication,
      self: directory.self.id,
      readOnly: true,
      signingKey: undefined,
      gate: trust.gate,
      onRefused: (refused) => trust.auditRefused(refused),
      records,
      outbox: repos.outbox,
      hub,
      onApplied: (changes) => routeSync.applyReplicated(changes),
      metrics,
      logger: log,
    });

    let stopping = false;
    let caughtUpAt: number | undefined;
    const edge = startEdge({ config, embedded: false, routeTable, nearest: undefined, clientIp: createClientIpResolver(config.placement.trustedProxies), dataDir, metrics, logger: log, svc: "iotfedd-edge" });
    closers.push(() => edge.kill());
    const sre = createSreServer({
      metrics,
      notReady: () => (stopping ? "shutting down" : caughtUpAt === undefined ? `catching up with the routes stream (at revision ${records.lastRevision()})` : edge.notServing()),
      degraded: () => replicator.stale(),
    });
    closers.push(() => sre.close());
    metrics.setSources({
      routeTable: () => routeTable.stats(),
      deviceCounts: () => new Map(),
      jobCounts: () => new Map(),
      outboxDepth: () => ({ jobDevices: 0, productSync: 0 }),
      replication: () => replicator.snapshot(),
    });
    metrics.buildInfo.set({ version: VERSION, region: config.region.id, instance: config.instance.id, kind: "edge" }, 1);

    const addresses = {
      admin: "",
      bootstrap: await edge.listen(),
      metrics: await listen(sre, config.listen.metrics).catch((e: Error) => {
        throw new ConfigurationError("listen.metrics", `cannot listen on ${config.listen.metrics}: ${e.message}`, { cause: e });
      }),
      peer: "",
      mqtt: "",
      mqttHooks: "",
      console: "",
    };
    replicator.start();
    const poll = setInterval(() => {
      if (caughtUpAt !== undefined || !replicator.caughtUp()) return;
      caughtUpAt = Date.now();
      clearInterval(poll);
      log.info({ lastRevision: records.lastRevision(), routes: routeTable.stats() }, "edge caught up with the routes stream: ready");
    }, CATCH_UP_POLL_MS);
    closers.push(() => clearInterval(poll));
    log.info({ region: config.region.id, instance: config.instance.id, role: "edge", dataDir, ...addresses, edgeWorkers: edge.workers, replication: config.replication.servers.join(",") }, "iotfedd ready");

    return {
      addresses,
      async stop() {
        if (stopping) return;
        stopping = true;
        clearInterval(poll);
        const deadline = config.shutdownTimeoutMs;
        let stopped = false;
        await Promise.all([
          edge.stop(deadline),
          closeHttp(sre, deadline),
          withDeadline(
            replicator.stop().then(() => (stopped = true)),
            deadline,
          ),
        ]);
        await trust.close();
        if (stopped) {
          try {
            const bytes = routeSync.saveSnapshot(dataDir);
            log.info({ bytes }, "route snapshot written: the next start-up answers from it before NATS is reachable");
          } catch (e) {
            log.warn({ err: (e as Error).message }, "route snapshot not written: the next start-up loads the routes from the replica");
          }
        }
        db.close();
        log.info("iotfedd edge stopped");
      },
    };
  } catch (e) {
    for (const c of closers.reverse()) c();
    throw e;
  }
}
