import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from "prom-client";

/**
 * Every metric the daemon exports, in one place. Names follow Prometheus
 * conventions: `iotfed_` prefix, base units in the name, `_total` counters,
 * bounded label sets (label values are codes or method names, never ids).
 */
/** Values read at scrape time from the parts that own them. */
/**
 * A counter on the bootstrap hot path: `labels(v)` gives an incrementer of
 * a plain number (a prom-client `inc` hashes its labels on every call);
 * the counts are added to the exported counter when it is scraped.
 */
function hotCounter(registry: Registry, name: string, help: string, label: string) {
  const cells = new Map<string, { n: number; reported: number }>();
  new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      for (const [value, c] of cells) {
        if (c.n > c.reported) {
          this.inc({ [label]: value }, c.n - c.reported);
          c.reported = c.n;
        }
      }
    },
  });
  return {
    labels(value: string): { inc(): void } {
      let c = cells.get(value);
      if (c === undefined) cells.set(value, (c = { n: 0, reported: 0 }));
      const cell = c;
      return {
        inc: () => {
          cell.n++;
        },
      };
    },
  };
}

/**
 * A histogram for the hot path: an observation is a bucket search over a
 * few bounds and two additions in typed arrays; prom-client sees the
 * cumulative buckets, sum and count only at scrape (the same exposition as
 * a prom-client Histogram).
 */
function hotHistogram(registry: Registry, name: string, help: string, buckets: readonly number[]) {
  const bounds = Float64Array.from(buckets);
  const counts = new Float64Array(bounds.length + 1);
  let sum = 0;
  registry.registerMetric({
    name,
    help,
    type: "histogram",
    aggregator: "sum",
    get() {
      const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
      let acc = 0;
      for (let i = 0; i < bounds.length; i++) {
        acc += counts[i]!;
        values.push({ labels: { le: bounds[i]! }, value: acc, metricName: `${name}_bucket` });
      }
      acc += counts[bounds.length]!;
      values.push({ labels: { le: "+Inf" }, value: acc, metricName: `${name}_bucket` }, { labels: {}, value: sum, metricName: `${name}_sum` }, { labels: {}, value: acc, metricName: `${name}_count` });
      return { name, help, type: "histogram", values, aggregator: "sum" };
    },
    reset() {
      counts.fill(0);
      sum = 0;
    },
  } as unknown as Parameters<Registry["registerMetric"]>[0]);
  return {
    observe(seconds: number): void {
      let i = 0;
      while (i < bounds.length && seconds > bounds[i]!) i++;
      counts[i]!++;
      sum += seconds;
    },
  };
}

/**
 * The device edge's own metrics, in a registry of their own: the daemon's
 * when it serves the edge itself, or an edge worker's, which the daemon
 * sums at scrape.
 */
export function createEdgeMetrics() {
  const registry = new Registry();
  return {
    registry,
    bootstrapRequests: hotCounter(registry, "iotfed_bootstrap_requests_total", "Bootstrap requests answered, by reply code (200, 400, 403, 404, 405, 408, 413, 415, 500).", "code"),
    bootstrapDuration: hotHistogram(
      registry,
      "iotfed_bootstrap_request_duration_seconds",
      "Time from the complete request to the reply, for bootstrap requests answered 200.",
      [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
    ),
    bootstrapShed: hotCounter(
      registry,
      "iotfed_bootstrap_shed_total",
      "Bootstrap work refused by the edge's limits: connections (total), connections_per_ip, rate (429 replies).",
      "reason",
    ),
  };
}

export type EdgeMetrics = ReturnType<typeof createEdgeMetrics>;

export interface ScrapeSources {
  routeTable(): { products: number; devices: number; instances: number; offHeapBytes: number };
  /** Devices on the embedded broker; undefined when it is off. */
  mqttOnline?(): number | undefined;
  /** Undefined when replication is off. */
  replication?(): ReplicationSnapshot | undefined;
  deviceCounts(): Map<string, number>;
  jobCounts(): Map<string, number>;
  outboxDepth(): { jobDevices: number; productSync: number };
}

export interface ReplicationSnapshot {
  connected: boolean;
  lastRevision: number;
  revisionsBehind: number;
  lagSeconds: number;
  outboxRows: number;
  outboxOldestSeconds: number;
}

const JOB_STATUSES = ["initializing", "running", "completed", "failed", "aborted"] as const;

const DEVICE_STATUSES = ["inactive", "online", "offline", "disabled"] as const;

export function createMetrics() {
  const registry = new Registry();
  let sources: ScrapeSources | undefined;
  // Standard process_* and nodejs_* names, as dashboards and alerts expect them.
  collectDefaultMetrics({ register: registry });

  const edge = createEdgeMetrics();
  /** Edge workers' metrics, when the edge runs in worker processes. */
  let workerMetrics: (() => Promise<MetricObjectWithValues<MetricValue<string>>[][]>) | undefined;
  const adminRequests = new Counter({
    name: "iotfed_admin_requests_total",
    help: "Admin API calls, by RPC method and gRPC status code name.",
    labelNames: ["method", "code"] as const,
    registers: [registry],
  });
  const adminDuration = new Histogram({
    name: "iotfed_admin_request_duration_seconds",
    help: "Admin API call latency by RPC method.",
    labelNames: ["method"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const routeTableEntries = new Gauge({
    name: "iotfed_route_table_entries",
    help: "Entries in the in-memory route table, by kind (product, device, instance).",
    labelNames: ["kind"] as const,
    registers: [registry],
    collect() {
      if (sources === undefined) return;
      const s = sources.routeTable();
      this.set({ kind: "product" }, s.products);
      this.set({ kind: "device" }, s.devices);
      this.set({ kind: "instance" }, s.instances);
    },
  });
  const routeTableBytes = new Gauge({
    name: "iotfed_route_table_offheap_bytes",
    help: "Bytes the route table holds off the JS heap.",
    registers: [registry],
    collect() {
      if (sources !== undefined) this.set(sources.routeTable().offHeapBytes);
    },
  });
  const devices = new Gauge({
    name: "iotfed_devices",
    help: "Devices held by this instance, by status (read from the store at scrape time).",
    labelNames: ["status"] as const,
    registers: [registry],
    collect() {
      if (sources === undefined) return;
      const counts = sources.deviceCounts();
      for (const status of DEVICE_STATUSES) this.set({ status }, counts.get(status) ?? 0);
    },
  });
  const jobs = new Gauge({
    name: "iotfed_jobs",
    help: "Distribution jobs started here, by status (read from the store at scrape time).",
    labelNames: ["status"] as const,
    registers: [registry],
    collect() {
      if (sources === undefined) return;
      const counts = sources.jobCounts();
      for (const status of JOB_STATUSES) this.set({ status }, counts.get(status) ?? 0);
    },
  });
  const outboxDepth = new Gauge({
    name: "iotfed_outbox_depth",
    help: "Work waiting to be sent to peers: job_devices (devices pending handoff), product_sync (copies behind their owner's version).",
    labelNames: ["kind"] as const,
    registers: [registry],
    collect() {
      if (sources === undefined) return;
      const d = sources.outboxDepth();
      this.set({ kind: "job_devices" }, d.jobDevices);
      this.set({ kind: "product_sync" }, d.productSync);
    },
  });
  const handoffDevices = new Counter({
    name: "iotfed_handoff_devices_total",
    help: "Devices handed off, by direction (out: sent by this source, in: received here) and result (accepted, refused).",
    labelNames: ["direction", "result"] as const,
    registers: [registry],
  });
  const handoffDuration = new Histogram({
    name: "iotfed_handoff_duration_seconds",
    help: "Latency of one Handoff call (a batch of devices), by direction.",
    labelNames: ["direction"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const placements = new Counter({
    name: "iotfed_placements_total",
    help: "Nearest-strategy placements asked for at bootstrap (R3), by the holder's region, the nearest candidate's region and result (moved, pending, refused, unreachable, error, shed).",
    labelNames: ["from_region", "to_region", "result"] as const,
    registers: [registry],
  });
  const placementsOverBudget = new Counter({
    name: "iotfed_placements_over_budget_total",
    help: "Placement moves refused by the move budget (placement.minMoveIntervalMs): the device had arrived too recently; its holder answered.",
    registers: [registry],
  });
  const placementDuration = new Histogram({
    name: "iotfed_placement_duration_seconds",
    help: "Time a bootstrap waited for a nearest-strategy placement, from asking the holder to its answer.",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const geoLookups = hotCounter(
    registry,
    "iotfed_geo_lookups_total",
    "Client locations resolved for nearest-strategy devices, by source (override, database, unknown); cached answers count again.",
    "source",
  );
  const edgeWorkers = new Gauge({
    name: "iotfed_edge_workers",
    help: "Edge worker processes answering bootstrap (edge.workers), by state: serving, starting.",
    labelNames: ["state"] as const,
    registers: [registry],
  });
  const edgeWorkerRestarts = new Counter({
    name: "iotfed_edge_worker_restarts_total",
    help: "Edge worker processes started again after one ended without being asked to.",
    registers: [registry],
  });
  const mqttConnects = new Counter({
    name: "iotfed_mqtt_connects_total",
    help: "Device MQTT sign-ins at the embedded broker, by result (accepted, malformed, unknown, not_held, disabled, bad_signature, stale_timestamp, no_timestamp).",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  const mqttSessionsCut = new Counter({
    name: "iotfed_mqtt_sessions_cut_total",
    help: "Device sessions ended at once because the device was disabled or deleted here (embedded broker, or the external broker's management API).",
    registers: [registry],
  });
  const authCodes = new Counter({
    name: "iotfed_auth_codes_total",
    help: "Authorization codes (R4) at this instance as the target, by result (issued, used, wrong, void, expired, used_before, none, replaced).",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  const jobEvents = new Counter({
    name: "iotfed_job_events_total",
    help: "Distribution job events (job.created, job.running, job.progress, job.completed, job.failed, job.aborted), by type.",
    labelNames: ["type"] as const,
    registers: [registry],
  });
  const jobWebhookDeliveries = new Counter({
    name: "iotfed_job_webhook_deliveries_total",
    help: "Job event deliveries to webhooks, by result: delivered, retried (a failed attempt, tried again later), dead (given up after the configured attempts).",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  const audited = new Counter({
    name: "iotfed_cross_account_actions_total",
    help: "Cross-account actions recorded in the audit log, by action and result (ok, refused).",
    labelNames: ["action", "result"] as const,
    registers: [registry],
  });
  const mqttOnline = new Gauge({
    name: "iotfed_mqtt_online_devices",
    help: "Devices connected to the embedded broker now.",
    registers: [registry],
    collect() {
      const n = sources?.mqttOnline?.();
      if (n !== undefined) this.set(n);
    },
  });
  const bootstrapNotifies = new Counter({
    name: "iotfed_bootstrap_notifies_total",
    help: "thing.bootstrap.notify messages to devices their job moved (R7), by result: sent, replied.",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  const peerCallErrors = new Counter({
    name: "iotfed_peer_call_errors_total",
    help: "Failed calls to peers, by peer instance id and gRPC status code name.",
    labelNames: ["peer", "code"] as const,
    registers: [registry],
  });
  const peerRequests = new Counter({
    name: "iotfed_peer_requests_total",
    help: "Peer-plane calls served, by RPC method and gRPC status code name.",
    labelNames: ["method", "code"] as const,
    registers: [registry],
  });
  const replicationGauge = (name: string, help: string, pick: (r: ReplicationSnapshot) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const r = sources?.replication?.();
        if (r !== undefined) this.set(pick(r));
      },
    });
  replicationGauge("iotfed_replication_connected", "1 while connected to NATS, else 0.", (r) => (r.connected ? 1 : 0));
  replicationGauge("iotfed_replication_last_revision", "Stream revision of the last route record applied here.", (r) => r.lastRevision);
  replicationGauge("iotfed_replication_revisions_behind", "Route records in the stream not yet applied here (as of the last record received).", (r) => r.revisionsBehind);
  replicationGauge(
    "iotfed_replication_lag_seconds",
    "Seconds since this daemon was last caught up with the routes stream (0 while caught up and connected).",
    (r) => r.lagSeconds,
  );
  replicationGauge("iotfed_replication_outbox_rows", "Route records committed here and not yet published.", (r) => r.outboxRows);
  replicationGauge("iotfed_replication_outbox_oldest_seconds", "Age of the oldest unpublished route record (0 when none).", (r) => r.outboxOldestSeconds);
  const replicationApplied = new Counter({
    name: "iotfed_replication_records_total",
    help: "Records read from the stream, by kind (device, product, instance, account, pool) and result (applied; stale: not newer than what is here; invalid; conflict: an account name another account holds here).",
    labelNames: ["kind", "result"] as const,
    registers: [registry],
  });
  const replicationRefused = new Counter({
    name: "iotfed_replication_refused_total",
    help:
      "Records from the stream that were not applied because they are not their owner's (docs/operating/security.md), by kind and reason: unsigned, unknown_signer, bad_signature, bad_certificate, revoked, not_owner, no_release, bad_release, contradicts_holder, invalid.",
    labelNames: ["kind", "reason"] as const,
    registers: [registry],
  });
  const replicationUnverified = new Counter({
    name: "iotfed_replication_unverified_total",
    help: "Records (and, from peers, product bundles kind=bundle and confirmed devices kind=confirm) applied without proof while replication.signatures is optional (a rolling upgrade), by kind and reason (unsigned, no_release). Zero before turning signatures to required.",
    labelNames: ["kind", "reason"] as const,
    registers: [registry],
  });
  const thingMessages = new Counter({
    name: "iotfed_thing_messages_total",
    help: "Thing-model messages from devices (property posts, events, by kind), by the Alink code of the reply: 200 stored, 460 malformed, 63xx a value the thing model does not allow (docs/guides/thing-model.md).",
    labelNames: ["kind", "code"] as const,
    registers: [registry],
  });
  const peerRefused = new Counter({
    name: "iotfed_peer_refused_total",
    help: "Peer calls (or devices in them) refused by who the caller is: not a member (revoked, bad_certificate, …, checked before anything is read), not the devices' holder (not_holder), not the owner of the bundle (forged_bundle), or not party to the call (not_party: PlaceDevice from an instance that is neither the product's owner nor a candidate).",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  const replicationPublished = new Counter({
    name: "iotfed_replication_published_total",
    help: "Route records from this daemon's outbox, by kind and result (published, superseded: the stream already had a newer one).",
    labelNames: ["kind", "result"] as const,
    registers: [registry],
  });
  const replicationErrors = new Counter({
    name: "iotfed_replication_errors_total",
    help: "Replication failures, by operation (publish, watch, connect); each is retried.",
    labelNames: ["op"] as const,
    registers: [registry],
  });
  const replicationApplyLag = new Histogram({
    name: "iotfed_replication_apply_lag_seconds",
    help: "Time from a route's commit at its daemon to its application here.",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  const certificateExpiry = new Gauge({
    name: "iotfed_tls_certificate_expiry_timestamp_seconds",
    help: "When each certificate this daemon presents or trusts expires (Unix time), by use: peer, peer_ca, admin, bootstrap.",
    labelNames: ["cert"] as const,
    registers: [registry],
  });
  const buildInfo = new Gauge({
    name: "iotfed_build_info",
    help: "Always 1; labels say which version, region and instance this daemon is.",
    labelNames: ["version", "region", "instance", "kind"] as const,
    registers: [registry],
  });

  return {
    registry,
    setSources(s: ScrapeSources): void {
      sources = s;
    },
    /** From now on the edge's metrics are the sum of what these workers report (internal/bootstrap/edge-pool.ts). */
    setEdgeWorkers(report: () => Promise<MetricObjectWithValues<MetricValue<string>>[][]>): void {
      workerMetrics = report;
    },
    /** The exposition: this process's metrics and the edge's (its own, or its workers' summed). */
    async render(): Promise<string> {
      const own = await registry.metrics();
      if (workerMetrics === undefined) return own + (await edge.registry.metrics());
      return own + (await AggregatorRegistry.aggregate(await workerMetrics()).metrics());
    },
    contentType: registry.contentType,
    bootstrapRequests: edge.bootstrapRequests,
    bootstrapDuration: edge.bootstrapDuration,
    replicationApplied,
    replicationRefused,
    replicationUnverified,
    peerRefused,
    thingMessages,
    replicationPublished,
    replicationErrors,
    replicationApplyLag,
    adminRequests,
    adminDuration,
    routeTableEntries,
    routeTableBytes,
    devices,
    jobs,
    outboxDepth,
    handoffDevices,
    handoffDuration,
    peerCallErrors,
    peerRequests,
    bootstrapShed: edge.bootstrapShed,
    edgeWorkers,
    edgeWorkerRestarts,
    mqttConnects,
    mqttSessionsCut,
    authCodes,
    audited,
    jobEvents,
    jobWebhookDeliveries,
    mqttOnline,
    bootstrapNotifies,
    placements,
    placementsOverBudget,
    placementDuration,
    certificateExpiry,
    geoLookups,
    buildInfo,
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
