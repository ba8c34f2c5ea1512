import { readFileSync } from "node:fs";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV, type KvEntry } from "@nats-io/kv";
import type { RouteChange } from "../domain/index.js";
import type { RoutesRepo, ReplicatedRecord } from "../store/index.js";
import type { Metrics, ReplicationSnapshot } from "../metrics/index.js";
import type { Logger } from "../log/index.js";
import { decodeRecord, encodeRecord, RecordError } from "./codec.js";
import { keyOf, orderOf } from "./keys.js";

export interface ReplicatorOptions {
  servers: string[];
  bucket: string;
  replicas: number;
  placementCluster?: string;
  credsFile?: string;
  caFile?: string;
  /** This instance's id (the NATS connection name, and committed_by of its records). */
  self: string;
  routes: RoutesRepo;
  publishBatch: number;
  staleAfterMs: number;
  /** Called after each applied batch's commit with the records that were newer. */
  onApplied(changes: RouteChange[]): void;
  metrics: Metrics;
  logger: Logger;
}

export interface Replicator {
  start(): void;
  /** Wakes the publisher (a route was committed). */
  kick(): void;
  /** Undefined while caught up; else why replication is stale. */
  stale(): string | undefined;
  snapshot(): ReplicationSnapshot;
  stop(): Promise<void>;
}

/** JetStream "wrong last sequence": a compare-and-set lost to a concurrent write. */
const WRONG_LAST_SEQUENCE = 10071;
/** Entries applied per transaction while catching up. */
const APPLY_BATCH = 1000;

/** Waits `ms`, or less when `signal` aborts or `wakeUp` is called; leaves no listener behind. */
function pause(ms: number, signal: AbortSignal, register?: (wakeUp: () => void) => void): Promise<void> {
  return new Promise((done) => {
    if (signal.aborted) return done();
    const finish = (): void => {
      clearTimeout(t);
      signal.removeEventListener("abort", finish);
      done();
    };
    const t = setTimeout(finish, ms);
    signal.addEventListener("abort", finish);
    register?.(finish);
  });
}
const sleep = (ms: number, signal: AbortSignal): Promise<void> => pause(ms, signal);

/**
 * The replication plane (ARCHITECTURE.md "Three planes"): publishes the
 * routes this daemon commits, from the store's outbox, into a JetStream KV
 * bucket (one key per route), and applies every daemon's records from a
 * watch that resumes at the last applied revision.
 *
 * Publishing is a compare-and-set on the key: a record is written only over
 * an older generation, so the bucket's latest value per key never goes
 * back even when outboxes drain out of order — a daemon that joins later
 * and reads only the latest values gets the true routes.
 */
export function createReplicator(opts: ReplicatorOptions): Replicator {
  const { routes, metrics, logger: log } = opts;
  const stopper = new AbortController();
  let nc: NatsConnection | undefined;
  let connected = false;
  let disconnectedSince = Date.now();
  let lastCaughtUpAt = 0;
  let caughtUp = false;
  let revisionsBehind = 0;
  let wake: (() => void) | undefined;
  let loops: Promise<unknown> | undefined;

  const kick = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const waitForKick = (ms: number): Promise<void> =>
    pause(ms, stopper.signal, (finish) => {
      wake = finish;
    }).finally(() => {
      wake = undefined;
    });

  const markCaughtUp = (behind: number): void => {
    revisionsBehind = behind;
    caughtUp = behind === 0;
    if (caughtUp) lastCaughtUpAt = Date.now();
  };

  async function connectOnce(): Promise<NatsConnection> {
    const conn = await connect({
      servers: opts.servers,
      name: `iotfedd ${opts.self}`,
      waitOnFirstConnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      pingInterval: 5000,
      maxPingOut: 2,
      ...(opts.credsFile === undefined ? {} : { authenticator: credsAuthenticator(readFileSync(opts.credsFile)) }),
      ...(opts.caFile === undefined ? {} : { tls: { caFile: opts.caFile } }),
    });
    connected = true;
    log.info({ server: conn.getServer() }, "replication: connected to NATS");
    void (async () => {
      for await (const s of conn.status()) {
        if (s.type === "disconnect") {
          connected = false;
          caughtUp = false;
          disconnectedSince = Date.now();
          log.warn("replication: disconnected from NATS; bootstrap keeps answering from memory");
        } else if (s.type === "reconnect") {
          connected = true;
          log.info({ server: conn.getServer() }, "replication: reconnected to NATS");
          kick();
        }
      }
    })();
    return conn;
  }

  async function openBucket(conn: NatsConnection): Promise<KV> {
    const kvm = new Kvm(conn);
    return kvm.create(opts.bucket, {
      history: 1,
      replicas: opts.replicas,
      ...(opts.placementCluster === undefined ? {} : { placement: { cluster: opts.placementCluster, tags: [] } }),
    });
  }

  /** Publishes one route over an older one; "superseded" when the bucket already holds a newer or equal one. */
  async function publishOne(kv: KV, c: RouteChange): Promise<"published" | "superseded"> {
    const key = keyOf(c);
    const bytes = encodeRecord(c, opts.self);
    for (let attempt = 0; ; attempt++) {
      const cur = await kv.get(key);
      try {
        if (cur === null) await kv.create(key, bytes);
        else {
          if (cur.operation === "PUT") {
            let existing: RouteChange | undefined;
            try {
              existing = decodeRecord(key, cur.value);
            } catch {
              existing = undefined; // a bad record is overwritten by a good one
            }
            if (existing !== undefined && orderOf(existing) >= orderOf(c)) return "superseded";
          }
          await kv.update(key, bytes, cur.revision);
        }
        return "published";
      } catch (e) {
        const code = (e as { code?: number; api_error?: { err_code?: number } }).code ?? (e as { api_error?: { err_code?: number } }).api_error?.err_code;
        if ((code === WRONG_LAST_SEQUENCE || /wrong last sequence/i.test(String((e as Error).message))) && attempt < 10) continue;
        throw e;
      }
    }
  }

  async function publishLoop(kv: KV): Promise<void> {
    let backoff = 100;
    while (!stopper.signal.aborted) {
      const items = routes.outbox(opts.publishBatch);
      if (items.length === 0) {
        await waitForKick(1000);
        continue;
      }
      const results = await Promise.allSettled(items.map((i) => publishOne(kv, i.change)));
      const done: number[] = [];
      let failed = 0;
      results.forEach((r, idx) => {
        const item = items[idx]!;
        if (r.status === "fulfilled") {
          done.push(item.seq);
          metrics.replicationPublished.inc({ kind: item.change.kind, result: r.value });
        } else failed++;
      });
      if (done.length > 0) routes.ackOutbox(done);
      if (failed > 0) {
        metrics.replicationErrors.inc({ op: "publish" }, failed);
        const first = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
        log.warn({ failed, err: String((first.reason as Error)?.message ?? first.reason), retryInMs: backoff }, "replication: publish failed; the outbox keeps the routes");
        await sleep(backoff, stopper.signal);
        backoff = Math.min(backoff * 2, 5000);
      } else backoff = 100;
    }
  }

  function applyBatch(entries: KvEntry[]): void {
    const records: ReplicatedRecord[] = [];
    const kinds: string[] = [];
    for (const e of entries) {
      if (e.operation !== "PUT") continue; // routes are never deleted; a purge is an operator's action
      try {
        const change = decodeRecord(e.key, e.value);
        records.push({ revision: e.revision, change });
        kinds.push(change.kind);
      } catch (err) {
        if (!(err instanceof RecordError)) throw err;
        metrics.replicationApplied.inc({ kind: "unknown", result: "invalid" });
        log.warn({ key: e.key, revision: e.revision, reason: err.message }, "replication: skipped an invalid route record");
      }
    }
    const last = entries[entries.length - 1]!.revision;
    const applied = routes.apply(records, last);
    const appliedSet = new Set(applied);
    const now = Date.now();
    for (const r of records) {
      const ok = appliedSet.has(r.change);
      metrics.replicationApplied.inc({ kind: r.change.kind, result: ok ? "applied" : "stale" });
      if (ok && r.change.route.committedAt > 0) metrics.replicationApplyLag.observe(Math.max(0, now - r.change.route.committedAt) / 1000);
    }
    if (applied.length > 0) opts.onApplied(applied);
  }

  async function watchLoop(kv: KV): Promise<void> {
    while (!stopper.signal.aborted) {
      try {
        const status = await kv.status();
        const streamLast = status.streamInfo.state.last_seq;
        let from = routes.lastRevision();
        if (streamLast < from) {
          // The stream is younger than what we applied: it was recreated (its
          // store lost). Read it all again and publish our own routes anew.
          log.warn({ streamLast, lastApplied: from }, "replication: the routes stream restarted below our revision; re-reading it and republishing our routes");
          routes.resetRevision();
          routes.republishOwn(opts.self);
          kick();
          from = 0;
        }
        markCaughtUp(Math.max(0, streamLast - from));
        const w = await kv.watch({ key: ">", resumeFromRevision: from + 1 });
        stopper.signal.addEventListener("abort", () => w.stop(), { once: true });
        let batch: KvEntry[] = [];
        for await (const e of w) {
          batch.push(e);
          const behind = e.delta ?? 0;
          if (behind === 0 || batch.length >= APPLY_BATCH) {
            applyBatch(batch);
            batch = [];
            markCaughtUp(behind);
          }
        }
        if (batch.length > 0) applyBatch(batch);
      } catch (e) {
        if (stopper.signal.aborted) return;
        metrics.replicationErrors.inc({ op: "watch" });
        log.warn({ err: String((e as Error).message ?? e) }, "replication: watch failed; resuming from the last applied revision");
      }
      caughtUp = false;
      await sleep(1000, stopper.signal);
    }
  }

  /** Compares our revision with the stream's now and then, so "caught up" is checked, not assumed. */
  async function checkLoop(kv: KV): Promise<void> {
    while (!stopper.signal.aborted) {
      await sleep(Math.max(250, Math.min(2000, opts.staleAfterMs / 2)), stopper.signal);
      if (!connected || stopper.signal.aborted) continue;
      try {
        const s = await kv.status();
        markCaughtUp(Math.max(0, s.streamInfo.state.last_seq - routes.lastRevision()));
      } catch {
        caughtUp = false;
      }
    }
  }

  async function run(): Promise<void> {
    while (!stopper.signal.aborted) {
      try {
        nc = await connectOnce();
        const kv = await openBucket(nc);
        log.info({ bucket: opts.bucket, lastRevision: routes.lastRevision() }, "replication: routes bucket open; catching up");
        await Promise.all([publishLoop(kv), watchLoop(kv), checkLoop(kv)]);
        return;
      } catch (e) {
        if (stopper.signal.aborted) return;
        metrics.replicationErrors.inc({ op: "connect" });
        log.warn({ err: String((e as Error).message ?? e) }, "replication: cannot open the routes bucket; retrying");
        await nc?.close().catch(() => undefined);
        nc = undefined;
        connected = false;
        await sleep(1000, stopper.signal);
      }
    }
  }

  return {
    start() {
      loops ??= run();
    },
    kick,
    stale() {
      if (caughtUp && connected) return undefined;
      const since = connected ? lastCaughtUpAt : Math.max(lastCaughtUpAt, disconnectedSince);
      const age = Date.now() - (since || disconnectedSince);
      if (age < opts.staleAfterMs) return undefined;
      return connected
        ? `replication stale: ${revisionsBehind} route records behind for ${Math.round(age / 1000)} s`
        : `replication stale: NATS unreachable for ${Math.round((Date.now() - disconnectedSince) / 1000)} s`;
    },
    snapshot(): ReplicationSnapshot {
      const out = routes.outboxDepth();
      const now = Date.now();
      return {
        connected,
        lastRevision: routes.lastRevision(),
        revisionsBehind,
        lagSeconds: caughtUp && connected ? 0 : (now - (lastCaughtUpAt || disconnectedSince)) / 1000,
        outboxRows: out.rows,
        outboxOldestSeconds: out.rows === 0 ? 0 : Math.max(0, now - out.oldestMs) / 1000,
      };
    },
    async stop() {
      stopper.abort();
      kick();
      const conn = nc;
      if (conn !== undefined) await conn.drain().catch(() => conn.close());
      await loops?.catch(() => undefined);
    },
  };
}
