import { readFileSync } from "node:fs";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import { recordOrder, type RouteChange } from "../domain/index.js";
import type { Outbox, RecordsRepo, ReplicatedRecord, StoreHub } from "../store/index.js";
import type { Metrics, ReplicationSnapshot } from "../metrics/index.js";
import type { Logger } from "../log/index.js";
import type { SigningKey } from "../trust/index.js";
import { isStreamNotFound } from "./nats-errors.js";
import { createRecordPublisher } from "./publisher.js";
import type { RecordGate, Refused } from "./record-gate.js";

export interface ReplicatorOptions {
  servers: string[];
  bucket: string;
  replicas: number;
  placementCluster?: string | undefined;
  /**
   * Read the routes from a mirror of the bucket's stream in this daemon's own
   * NATS cluster (a supercluster region away from the bucket's), created
   * when missing; writes still go to the bucket. Mirrors keep the bucket's
   * sequence numbers, so revisions mean the same on both.
   */
  mirror?: { stream: string; cluster?: string | undefined } | undefined;
  credsFile?: string | undefined;
  caFile?: string | undefined;
  /** Client certificate and key for NATS over TLS (the server maps the certificate to this daemon's user). */
  certFile?: string | undefined;
  keyFile?: string | undefined;
  /** This daemon's reply-inbox prefix (default `_INBOX_<self>`, so that permissions can keep replies private). */
  inboxPrefix?: string | undefined;
  /** This instance's id (the NATS connection name, and committed_by of its records). */
  self: string;
  /**
   * An edge (iotfedd --role edge): follows the routes and writes nothing —
   * it opens the bucket (and reads a mirror) without creating either, and
   * publishes no record.
   */
  readOnly?: boolean;
  /** What this daemon signs its records with; undefined: they go unsigned (no peer certificate). */
  signingKey: SigningKey | undefined;
  /** Every record from the stream passes it before it is applied. */
  gate: RecordGate;
  /** Called with the records the gate refused (after they are counted and logged). */
  onRefused?: (refused: readonly Refused[]) => void;
  records: RecordsRepo;
  outbox: Outbox;
  /** Each `record.queued` wakes the publisher. */
  hub: StoreHub;
  publishBatch: number;
  staleAfterMs: number;
  /** Called after each applied batch's commit with the records that were newer. */
  onApplied(changes: RouteChange[]): void;
  metrics: Metrics;
  logger: Logger;
}

export interface Replicator {
  start(): void;
  /** Undefined while caught up; else why replication is stale. */
  stale(): string | undefined;
  snapshot(): ReplicationSnapshot;
  /** Publishes an event on a core NATS subject; false when not connected (events are best effort). */
  publishEvent(subject: string, data: Uint8Array): boolean;
  /** Whether it is connected to NATS now. */
  connected(): boolean;
  /** Connected, and every record of the stream up to its last one checked here. */
  caughtUp(): boolean;
  stop(): Promise<void>;
}

/** A message of the routes stream (the bucket's, or its mirror's). */
interface StreamEntry {
  key: string;
  value: Uint8Array;
  revision: number;
  operation: string;
}

/** Records waiting for their signer's instance record, at most. */
const PARKED_MAX = 200_000;

/** Entries applied per transaction while catching up. */
const APPLY_BATCH = 1000;
/** Batches whose signatures may be checked ahead of the one being applied. */
const VERIFY_AHEAD = 3;

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
  const { records, metrics, logger: log } = opts;
  const stopper = new AbortController();
  let nc: NatsConnection | undefined;
  let connected = false;
  let disconnectedSince = Date.now();
  let lastCaughtUpAt = 0;
  let caughtUp = false;
  let revisionsBehind = 0;
  let wake: (() => void) | undefined;
  let loops: Promise<unknown> | undefined;
  /** The running watch, so that the checker can restart one that stopped making progress. */
  let currentWatch: { close(): Promise<void | Error> } | undefined;
  let lastProgressAt = Date.now();

  const kick = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  opts.hub.on("record.queued", kick);
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
      inboxPrefix: opts.inboxPrefix ?? `_INBOX_${opts.self}`,
      ...(opts.caFile === undefined && opts.certFile === undefined
        ? {}
        : { tls: { ...(opts.caFile === undefined ? {} : { caFile: opts.caFile }), ...(opts.certFile === undefined ? {} : { certFile: opts.certFile, keyFile: opts.keyFile! }) } }),
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
    if (opts.readOnly === true) return kvm.open(opts.bucket);
    return kvm.create(opts.bucket, {
      history: 1,
      replicas: opts.replicas,
      ...(opts.placementCluster === undefined ? {} : { placement: { cluster: opts.placementCluster, tags: [] } }),
    });
  }

  const publishOne = createRecordPublisher(opts.self, opts.signingKey, async (key, value, revision) => {
    const { admitted } = await opts.gate.check([{ key, value, revision }]);
    return admitted.length === 1 && admitted[0]!.unverified === undefined;
  });
  /** Records signed by members whose instance record has not arrived yet, by key (the newest). */
  const parked = new Map<string, StreamEntry>();

  async function publishLoop(kv: KV): Promise<void> {
    let backoff = 100;
    while (!stopper.signal.aborted) {
      const items = opts.outbox.pending(opts.publishBatch);
      if (items.length === 0) {
        await waitForKick(1000);
        continue;
      }
      // Instance records first: they carry the keys that the others are checked with.
      const ordered = [...items.filter((i) => i.change.kind === "instance"), ...items.filter((i) => i.change.kind !== "instance")];
      const firsts = ordered.findIndex((i) => i.change.kind !== "instance");
      const cut = firsts === -1 ? ordered.length : firsts;
      const results = [
        ...(await Promise.allSettled(ordered.slice(0, cut).map((i) => publishOne(kv, i.change)))),
        ...(await Promise.allSettled(ordered.slice(cut).map((i) => publishOne(kv, i.change)))),
      ];
      const done: number[] = [];
      let failed = 0;
      results.forEach((r, idx) => {
        const item = ordered[idx]!;
        if (r.status === "fulfilled") {
          done.push(item.seq);
          metrics.replicationPublished.inc({ kind: item.change.kind, result: r.value });
        } else failed++;
      });
      if (done.length > 0) opts.outbox.ack(done);
      if (failed > 0) {
        metrics.replicationErrors.inc({ op: "publish" }, failed);
        const first = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
        log.warn({ failed, err: String((first.reason as Error)?.message ?? first.reason), retryInMs: backoff }, "replication: publish failed; the outbox keeps the routes");
        await sleep(backoff, stopper.signal);
        backoff = Math.min(backoff * 2, 5000);
      } else backoff = 100;
    }
  }

  /** Counts, logs and reports refused records; a record over one this daemon owns has it published again. */
  function refuse(refused: readonly Refused[]): void {
    for (const r of refused) {
      const kind = r.change?.kind ?? "unknown";
      metrics.replicationRefused.inc({ kind, reason: r.reason });
      log.warn({ key: r.key, revision: r.revision, kind, reason: r.reason, signer: r.signer, detail: r.detail }, "replication: refused a record that is not its owner's");
      const own = r.change === undefined ? undefined : ownKey(r.change);
      if (own !== undefined) {
        log.warn({ key: r.key }, "replication: the stream holds a record over one this daemon owns; publishing ours again");
        records.republish(...own);
      }
    }
    if (refused.length > 0) opts.onRefused?.(refused);
  }

  /** The order (generation or version) of the record stored here under the same key; 0 when none. */
  function storedOrder(c: RouteChange): number {
    switch (c.kind) {
      case "device":
        return records.device(c.route.productKey, c.route.deviceName)?.generation ?? 0;
      case "product":
        return records.product(c.route.productKey)?.version ?? 0;
      case "pool":
        return records.pool(c.route.productKey)?.version ?? 0;
      case "instance":
        return records.instance(c.route.instanceId)?.version ?? 0;
      case "account":
        return records.account(c.route.accountId)?.version ?? 0;
    }
  }

  /** The outbox key of this daemon's own record under the same key, when it has one. */
  function ownKey(c: RouteChange): [RouteChange["kind"], string, string] | undefined {
    const self = opts.self;
    switch (c.kind) {
      case "device":
        return records.device(c.route.productKey, c.route.deviceName)?.holder === self ? ["device", c.route.productKey, c.route.deviceName] : undefined;
      case "product":
        return records.product(c.route.productKey)?.home === self ? ["product", c.route.productKey, ""] : undefined;
      case "pool":
        return records.pool(c.route.productKey)?.home === self ? ["pool", c.route.productKey, ""] : undefined;
      case "instance":
        return c.route.instanceId === self && records.instance(self) !== undefined ? ["instance", self, ""] : undefined;
      case "account":
        return records.account(c.route.accountId)?.home === self ? ["account", c.route.accountId, ""] : undefined;
    }
  }

  /**
   * Checks a batch through the gate and applies what passes, in one
   * transaction with the new last revision (`through`, or the batch's last).
   */
  async function applyBatch(entries: StreamEntry[], through?: number): Promise<void> {
    await applyVerified(entries, await verifyBatch(entries), through);
  }
  /** Starts checking a batch's signatures (routes are never deleted; a purge is an operator's action, and is skipped). */
  const verifyBatch = (entries: StreamEntry[]) => opts.gate.verify(entries.filter((e) => e.operation === "PUT"));

  async function applyVerified(entries: StreamEntry[], verified: Awaited<ReturnType<typeof verifyBatch>>, through?: number): Promise<void> {
    // Judged and applied in one transaction: one snapshot of the store for the batch.
    const { applied, refused } = records.inTransaction(() => {
      const { admitted, refused, parked: waiting } = opts.gate.decide(verified);
      refuse(refused);
      for (const e of waiting) {
        parked.delete(e.key);
        if (parked.size >= PARKED_MAX) {
          refuse([{ key: e.key, revision: e.revision, reason: "unknown_signer", detail: "signed by an instance whose record has not arrived, and too many records wait", signer: "" }]);
        } else parked.set(e.key, { ...e, operation: "PUT" });
      }
      const batch: ReplicatedRecord[] = [];
      for (const a of admitted) {
        if (a.unverified !== undefined) metrics.replicationUnverified.inc({ kind: a.change.kind, reason: a.unverified });
        // A release proof is kept only for devices this daemon holds (it republishes
        // and renews those); another holder's proof was checked and is not needed again.
        const c = a.change.kind === "device" && a.change.route.release !== undefined && a.change.route.holder !== opts.self ? { kind: "device" as const, route: { ...a.change.route, release: undefined } } : a.change;
        batch.push({ revision: a.revision, change: c });
      }
      const last = through ?? (entries.length === 0 ? records.lastRevision() : entries[entries.length - 1]!.revision);
      lastProgressAt = Date.now();
      const applied = records.apply(batch, Math.max(last, records.lastRevision()), (c) => {
        metrics.replicationApplied.inc({ kind: c.kind, result: "conflict" });
        if (c.kind === "account") {
          log.error({ account: c.route.accountId, name: c.route.accountName, home: c.route.home }, "replication: an account of another daemon has a name another account holds here; it is not in this directory until one is renamed");
        }
      });
      const appliedSet = new Set(applied);
      const now = Date.now();
      for (const r of batch) {
        const ok = appliedSet.has(r.change);
        metrics.replicationApplied.inc({ kind: r.change.kind, result: ok ? "applied" : "stale" });
        if (ok && r.change.route.committedAt > 0) metrics.replicationApplyLag.observe(Math.max(0, now - r.change.route.committedAt) / 1000);
        // An older record (a replay), or another holder's at our generation, over a
        // key this daemon owns: the stream's latest value must be ours again, for
        // daemons that join later.
        if (!ok) {
          const own = ownKey(r.change);
          const other = r.change.kind === "device" && r.change.route.holder !== opts.self; // the same generation, another holder: not ours
          if (own !== undefined && (storedOrder(r.change) > recordOrder(r.change) || other)) {
            log.warn({ kind: r.change.kind, order: recordOrder(r.change) }, "replication: the stream holds an older record over one this daemon owns; publishing ours again");
            records.republish(...own);
          }
        }
      }
      return { applied, refused };
    });
    for (const r of refused) metrics.replicationApplied.inc({ kind: r.change?.kind ?? "unknown", result: r.reason === "invalid" ? "invalid" : "refused" });
    if (applied.length > 0) opts.onApplied(applied);
    // A new member's record lets the records that waited for it be checked.
    if (parked.size > 0 && applied.some((c) => c.kind === "instance")) {
      const again = [...parked.values()];
      parked.clear();
      await applyBatch(again, records.lastRevision());
    }
  }

  /**
   * Before catching up: the instance records (which carry the keys
   * everything else is checked with) and the product routes (a device at
   * its product's home needs no release), read by key, so that the
   * stream's order does not matter. Applied without moving the revision.
   */
  async function preload(kv: KV): Promise<void> {
    for (const prefix of ["inst.>", "prod.>"]) {
      const entries: StreamEntry[] = [];
      for await (const key of await kv.keys(prefix)) {
        const e = await kv.get(key);
        if (e !== null && e.operation === "PUT") entries.push({ key, value: e.value, revision: e.revision, operation: "PUT" });
        if (stopper.signal.aborted) return;
      }
      for (let i = 0; i < entries.length; i += APPLY_BATCH) await applyBatch(entries.slice(i, i + APPLY_BATCH), records.lastRevision());
    }
  }

  const bucketStream = `KV_${opts.bucket}`;
  const subjectPrefix = `$KV.${opts.bucket}.`;
  /** The stream this daemon reads routes from. */
  const readStream = opts.mirror?.stream ?? bucketStream;

  async function ensureMirror(jsm: JetStreamManager): Promise<void> {
    const m = opts.mirror;
    if (m === undefined || opts.readOnly === true) return;
    try {
      await jsm.streams.info(m.stream);
    } catch (e) {
      if (!isStreamNotFound(e)) throw e;
      await jsm.streams.add({
        name: m.stream,
        mirror: { name: bucketStream },
        max_msgs_per_subject: 1,
        num_replicas: opts.replicas,
        ...(m.cluster === undefined ? {} : { placement: { cluster: m.cluster, tags: [] } }),
      });
      log.info({ stream: m.stream, of: bucketStream, cluster: m.cluster }, "replication: created the routes mirror");
    }
  }

  const toEntry = (m: JsMsg): StreamEntry => ({
    key: m.subject.startsWith(subjectPrefix) ? m.subject.slice(subjectPrefix.length) : m.subject,
    value: m.data,
    revision: m.seq,
    operation: m.headers?.get("KV-Operation") || "PUT",
  });

  async function watchLoop(conn: NatsConnection, jsm: JetStreamManager): Promise<void> {
    const js = jetstream(conn);
    while (!stopper.signal.aborted) {
      try {
        const info = await jsm.streams.info(readStream);
        const streamLast = info.state.last_seq;
        let from = records.lastRevision();
        if (streamLast < from) {
          // The stream is younger than what we applied: it was recreated (its
          // store lost). Read it all again and publish our own routes anew.
          log.warn({ stream: readStream, streamLast, lastApplied: from }, "replication: the routes stream restarted below our revision; re-reading it and republishing our routes");
          records.resetRevision();
          opts.outbox.requeueOwn(opts.self);
          kick();
          from = 0;
        }
        markCaughtUp(Math.max(0, streamLast - from));
        // An ordered push consumer (as a KV watch uses): it re-creates itself
        // from the last sequence it saw when the connection or server comes back.
        const consumer = await js.consumers.getPushConsumer(readStream, {
          filter_subjects: `${subjectPrefix}>`, // one subject: the plural form needs nats-server 2.10
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: from + 1,
        });
        const messages = await consumer.consume();
        currentWatch = messages;
        const onAbort = (): void => void messages.close();
        stopper.signal.addEventListener("abort", onAbort);
        let batch: StreamEntry[] = [];
        // While catching up, the signatures of the next batches are checked
        // (on the verifier's threads) while this one is applied, in order.
        let applying: Promise<void> = Promise.resolve();
        let ahead = 0;
        try {
          for await (const m of messages) {
            batch.push(toEntry(m));
            const behind = m.info.pending;
            if (behind === 0 || batch.length >= APPLY_BATCH) {
              const entries = batch;
              batch = [];
              const verified = verifyBatch(entries);
              ahead++;
              applying = applying.then(async () => {
                await applyVerified(entries, await verified);
                ahead--;
                markCaughtUp(behind);
              });
              if (behind === 0 || ahead >= VERIFY_AHEAD) await applying;
            }
          }
          await applying;
          if (batch.length > 0) await applyBatch(batch);
        } finally {
          stopper.signal.removeEventListener("abort", onAbort);
          await applying.catch(() => undefined);
        }
      } catch (e) {
        if (stopper.signal.aborted) return;
        metrics.replicationErrors.inc({ op: "watch" });
        const message = String((e as Error).message ?? e);
        log.warn({ err: message }, "replication: watch failed; resuming from the last applied revision");
        if (isStreamNotFound(e) && opts.readOnly !== true) {
          // NATS lost the stream (a store wiped, a cluster rebuilt): create it
          // again; the next round finds it behind us and republishes our routes.
          try {
            await openBucket(conn);
            await ensureMirror(jsm);
            log.warn({ bucket: opts.bucket }, "replication: the routes bucket was missing and has been created again");
          } catch (err) {
            log.warn({ err: String((err as Error).message ?? err) }, "replication: cannot create the routes bucket again; retrying");
          }
        }
      }
      caughtUp = false;
      await sleep(1000, stopper.signal);
    }
  }

  /** Compares our revision with the stream's now and then, so "caught up" is checked, not assumed. */
  async function checkLoop(jsm: JetStreamManager): Promise<void> {
    while (!stopper.signal.aborted) {
      await sleep(Math.max(250, Math.min(2000, opts.staleAfterMs / 2)), stopper.signal);
      if (!connected || stopper.signal.aborted) continue;
      try {
        const info = await jsm.streams.info(readStream);
        const behind = Math.max(0, info.state.last_seq - records.lastRevision());
        markCaughtUp(behind);
        if (behind > 0 && Date.now() - lastProgressAt > Math.max(10000, 2 * opts.staleAfterMs) && currentWatch !== undefined) {
          // Records are waiting and the watch has delivered none for a while: start it again.
          log.warn({ behind }, "replication: the watch stopped making progress; restarting it from the last applied revision");
          metrics.replicationErrors.inc({ op: "watch" });
          lastProgressAt = Date.now();
          void currentWatch.close();
        }
      } catch (e) {
        caughtUp = false;
        // The stream is gone: a running watch would wait for it forever. End it,
        // so that the watch loop finds the stream missing and creates it again.
        if (isStreamNotFound(e) && currentWatch !== undefined) void currentWatch.close();
      }
    }
  }

  async function run(): Promise<void> {
    while (!stopper.signal.aborted) {
      try {
        nc = await connectOnce();
        const kv = await openBucket(nc);
        const jsm = await jetstreamManager(nc);
        await ensureMirror(jsm);
        log.info({ bucket: opts.bucket, readFrom: readStream, lastRevision: records.lastRevision() }, "replication: routes bucket open; catching up");
        await preload(kv);
        await Promise.all([...(opts.readOnly === true ? [] : [publishLoop(kv)]), watchLoop(nc, jsm), checkLoop(jsm)]);
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
    stale() {
      if (caughtUp && connected) return undefined;
      const since = connected ? lastCaughtUpAt : Math.max(lastCaughtUpAt, disconnectedSince);
      const age = Date.now() - (since || disconnectedSince);
      if (age < opts.staleAfterMs) return undefined;
      return connected
        ? `replication stale: ${revisionsBehind} route records behind for ${Math.round(age / 1000)} s`
        : `replication stale: NATS unreachable for ${Math.round((Date.now() - disconnectedSince) / 1000)} s`;
    },
    publishEvent(subject: string, data: Uint8Array): boolean {
      const conn = nc;
      if (conn === undefined || !connected) return false;
      try {
        conn.publish(subject, data);
        return true;
      } catch {
        return false;
      }
    },
    connected: () => connected,
    caughtUp: () => caughtUp && connected,
    snapshot(): ReplicationSnapshot {
      const out = opts.outbox.depth();
      const now = Date.now();
      return {
        connected,
        lastRevision: records.lastRevision(),
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
      // A first connection still being attempted cannot be cancelled: do not wait for it.
      if (conn !== undefined) await loops?.catch(() => undefined);
    },
  };
}
