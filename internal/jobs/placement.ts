import type * as grpc from "@grpc/grpc-js";

import { isRetryable, type DeviceRoute, type Job, type RemoteError } from "../domain/index.js";
import type { JobsRepo, ProductsRepo, RecordsRepo, StoreHub } from "../store/index.js";
import type { PeerClient, PlaceResult } from "../peer/index.js";
import { fromPeerError, statusName } from "../rpc/index.js";
import type { Metrics } from "../metrics/index.js";
import type { Logger } from "../log/index.js";

export interface PlacementOptions {
  self: string;
  /** An instance's region ("" when unknown), for metric labels. */
  regionOf: (instanceId: string) => string;
  jobs: JobsRepo;
  products: ProductsRepo;
  records: RecordsRepo;
  /** Placements wait on their job's `job.changed`. */
  hub: StoreHub;
  peers: ReadonlyMap<string, PeerClient>;
  /** Tells the job worker a placement job is waiting. */
  kickWorker: () => void;
  /** How long a bootstrap waits for a move to commit. */
  waitMs: number;
  /** After a target could not be reached, placements to it wait this long. */
  unreachableBackoffMs: number;
  /** Requests waiting at once; beyond, the holder is answered and the request counted as shed. */
  maxInFlight?: number;
  /** The move budget: a device that arrived here is not moved by placement again for this long (0: none). */
  minMoveIntervalMs?: number;
  /** A device route learned from a holder's answer (applied if newer, like one from the stream). */
  learned: (route: DeviceRoute) => void;
  metrics: Metrics;
  logger: Logger;
  now?: () => number;
}

export type Placement = ReturnType<typeof createPlacement>;

/**
 * Nearest-strategy placement (R3, ARCHITECTURE.md "The bootstrap hot path"):
 * a device that bootstraps nearer to another candidate than to its holder
 * is moved there by its holder, with the handoff of a distribution job (a
 * one-device placement job), and the bootstrap is answered once the move
 * commits or the wait runs out.
 *
 * Two sides: `request` runs where the bootstrap arrived and asks the holder
 * (itself, or a peer over PlaceDevice), one request per device at a time;
 * `placeHere` runs at the holder, deduplicated by the device's state (a
 * device already leaving for that target is waited for, not moved again).
 * A target that cannot be reached is not asked again for a while and
 * nothing changes: the device stays where it is, held and answerable.
 */
export function createPlacement(opts: PlacementOptions) {
  const { self, jobs, metrics, logger } = opts;
  const now = opts.now ?? Date.now;
  const waiters = new Map<string, Set<() => void>>();
  const inFlight = new Map<string, Promise<string>>();
  /** Targets that could not be reached, until when. */
  const unreachableUntil = new Map<string, number>();
  /** Devices whose move was refused: not asked again until then (bounded). */
  const refusedUntil = new Map<string, number>();
  const REFUSED_MAX = 100_000;

  const waitForJob = (jobId: string, ms: number): Promise<void> =>
    new Promise((resolve) => {
      let set = waiters.get(jobId);
      if (set === undefined) waiters.set(jobId, (set = new Set()));
      const s = set;
      const done = (): void => {
        clearTimeout(timer);
        s.delete(done);
        if (s.size === 0) waiters.delete(jobId);
        resolve();
      };
      const timer = setTimeout(done, ms);
      s.add(done);
    });

  const settled = (j: Job | undefined): boolean => j === undefined || j.status === "completed" || j.status === "failed" || (j.total > 0 && j.succeeded + j.failed === j.total);
  const regionLabel = (id: string): string => opts.regionOf(id) || "unknown";
  // The job worker announces each step; placements waiting on that job wake up when it settles.
  opts.hub.on("job.changed", (job) => {
    if (!settled(job)) return;
    const set = waiters.get(job.jobId);
    if (set !== undefined) for (const wake of [...set]) wake();
  });

  /** Where the device is now, as this daemon knows it. */
  const currentHolder = (pk: string, dn: string): { holder: string; generation: number } => {
    const r = opts.records.device(pk, dn);
    return r === undefined ? { holder: self, generation: 0 } : { holder: r.holder, generation: r.generation };
  };

  async function placeHere(pk: string, dn: string, target: string, waitMs: number): Promise<PlaceResult> {
    const here = currentHolder(pk, dn);
    const answer = (result: PlaceResult["result"], message = ""): PlaceResult => ({ result, ...currentHolder(pk, dn), message });
    if (here.holder === target) return answer("moved");
    if (target === self) return answer("refused", `device ${pk}/${dn} is held by ${here.holder}; only its holder moves it`);
    const client = opts.peers.get(target);
    if (client === undefined) return answer("refused", `target ${target} is not a configured peer of ${self}`);
    const product = opts.products.get(pk);
    if (product === undefined) return answer("refused", `product ${pk} has no copy here`);
    const route = opts.records.product(pk);
    const candidates = route !== undefined && route.version > product.version ? route.candidates : product.candidates;
    if (!candidates.includes(target)) {
      return answer("refused", `${target} is not a candidate of product ${pk}`);
    }
    // The move budget: a device that arrived here (it has a release) stays for the interval.
    const arrived = opts.records.device(pk, dn);
    const budget = opts.minMoveIntervalMs ?? 0;
    if (budget > 0 && arrived?.holder === self && arrived.release !== undefined && now() - arrived.committedAt < budget) {
      opts.metrics.placementsOverBudget.inc();
      return answer("refused", `device ${pk}/${dn} arrived here ${Math.round((now() - arrived.committedAt) / 1000)} s ago; placement moves it at most once per ${Math.round(budget / 1000)} s (placement.minMoveIntervalMs)`);
    }
    const until = unreachableUntil.get(target) ?? 0;
    if (until > now()) return answer("unreachable", `target ${target} was unreachable; next try after ${new Date(until).toISOString()}`);
    // A move is started (or a failed one retried) only towards a target that
    // answers now, so an unreachable target leaves the device held and
    // usable where it is. A round trip (the health check), not the channel's
    // state, which still says connected just after the target died.
    if (!(await client.probe(Math.min(1000, Math.max(waitMs, 100))))) {
      unreachableUntil.set(target, now() + opts.unreachableBackoffMs);
      return answer("unreachable", `target ${target} is unreachable; the device stays at ${self}`);
    }
    const placed = jobs.placement(pk, dn, product.accountId, opts.regionOf(target), target);
    if ("refused" in placed) return answer("refused", placed.refused);
    if (placed.created) {
      opts.kickWorker();
    } else if (placed.job.status === "failed") {
      jobs.retry(placed.job.jobId);
      opts.kickWorker();
    }
    const jobId = placed.job.jobId;
    if (!settled(jobs.get(jobId))) await waitForJob(jobId, waitMs);
    const j = jobs.require(jobId);
    if (j.succeeded === 1) return answer("moved");
    if (j.failed === 1) {
      const r = jobs.detail(jobId, 1, "", "failed").items[0];
      return answer("refused", r === undefined ? "the target refused the device" : `${r.errorCode}: ${r.errorMessage}`);
    }
    return answer("pending", j.message);
  }

  /** Asks the holder to move the device; the instance id to answer the bootstrap with. */
  async function ask(pk: string, dn: string, holder: string, target: string): Promise<string> {
    const started = performance.now();
    let result: PlaceResult["result"] | "error" = "error";
    try {
      let r: PlaceResult;
      if (holder === self) {
        r = await placeHere(pk, dn, target, opts.waitMs);
      } else {
        // Only the product's owner and its candidates ask a holder to move a device (the holder checks it too).
        const route = opts.records.product(pk);
        if (route !== undefined && route.home !== self && !route.candidates.includes(self)) {
          result = "refused";
          return holder;
        }
        const client = opts.peers.get(holder);
        if (client === undefined) {
          result = "refused";
          logger.debug({ product: pk, holder }, "placement: the holder is not a configured peer");
          return holder;
        }
        const res = await client.placeDevice({ productKey: pk, deviceName: dn, targetInstanceId: target, waitMs: opts.waitMs }, { deadlineMs: opts.waitMs + 5000 });
        r = { result: res.result as PlaceResult["result"], holder: res.holderInstanceId, generation: Number(res.generation), message: res.message };
        if (r.result === "moved" && r.holder !== "" && r.generation > 0) {
          opts.learned({ productKey: pk, deviceName: dn, holder: r.holder, generation: r.generation, nearest: true, committedBy: r.holder, committedAt: now() });
        }
      }
      result = r.result;
      if (r.result === "refused") {
        if (refusedUntil.size >= REFUSED_MAX) refusedUntil.clear();
        refusedUntil.set(`${pk}\0${dn}\0${target}`, now() + opts.unreachableBackoffMs);
        logger.info({ product: pk, device: dn, target, reason: r.message }, "placement refused");
      }
      return r.result === "moved" ? r.holder || target : r.holder || holder;
    } catch (e) {
      const code = (e as grpc.ServiceError).code;
      if (typeof code !== "number") throw e;
      metrics.peerCallErrors.inc({ peer: holder, code: statusName(code) });
      result = isRetryable((fromPeerError(holder, e) as RemoteError).code) ? "unreachable" : "error";
      return holder;
    } finally {
      metrics.placements.inc({ from_region: regionLabel(holder), to_region: regionLabel(target), result });
      metrics.placementDuration.observe((performance.now() - started) / 1000);
    }
  }

  return {
    placeHere,
    /**
     * Where the bootstrap of a nearest-strategy device should go, when its
     * nearest candidate is not its holder: one request per device at a
     * time (a burst of bootstraps shares it), answered with the instance id
     * that holds the device when the answer comes (the target once the
     * move committed, else the holder).
     */
    request(pk: string, dn: string, holder: string, target: string): Promise<string> | string {
      const key = `${pk}\0${dn}`;
      const pending = inFlight.get(key);
      if (pending !== undefined) return pending;
      if (inFlight.size >= (opts.maxInFlight ?? 10000)) {
        metrics.placements.inc({ from_region: regionLabel(holder), to_region: regionLabel(target), result: "shed" });
        return holder;
      }
      const refused = refusedUntil.get(`${key}\0${target}`);
      if (refused !== undefined) {
        if (refused > now()) return holder;
        refusedUntil.delete(`${key}\0${target}`);
      }
      const p = ask(pk, dn, holder, target)
        .catch((e: unknown) => {
          logger.error({ err: e, product: pk }, "placement failed");
          return holder;
        })
        .finally(() => inFlight.delete(key));
      inFlight.set(key, p);
      return p;
    },
    /** Requests waiting for an answer (a gauge for SREs would read this). */
    inFlight(): number {
      return inFlight.size;
    },
  };
}
