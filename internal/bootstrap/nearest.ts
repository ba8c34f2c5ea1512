import { nearestPrepared, prepare, type ClientIpResolver, type LatLon, type Locator, type PreparedCandidate } from "../geo/index.js";
import type { RouteTable } from "../routes/index.js";
import type { Metrics } from "../metrics/index.js";

export interface NearestOptions {
  routeTable: RouteTable;
  locator: Locator;
  clientIp: ClientIpResolver;
  /** Coordinates of a region id; undefined when none are known (its candidates are skipped). */
  regionAt: (region: string) => LatLon | undefined;
  /**
   * Asks for a device to be moved to `target` (instance ids); resolves to
   * the instance id to answer with.
   */
  place: (productKey: string, deviceName: string, holder: string, target: string) => Promise<string> | string;
  metrics: Metrics;
}

export type NearestResolver = ReturnType<typeof createNearestResolver>;

/**
 * The nearest strategy at the edge (R3): for a nearest-placed device, the
 * client's location (cached per address) picks the nearest candidate of its
 * product. When that is the holder — a device already in place — the
 * answer is the holder's, from memory; otherwise the holder is asked to
 * move the device and the answer waits for it (bounded by the placement).
 */
export function createNearestResolver(opts: NearestOptions) {
  const { routeTable, locator } = opts;
  const byProduct = new Map<string, { epoch: number; candidates: PreparedCandidate<number>[] }>();
  const counted = {
    override: opts.metrics.geoLookups.labels("override"),
    database: opts.metrics.geoLookups.labels("database"),
    unknown: opts.metrics.geoLookups.labels("unknown"),
  };

  const candidatesOf = (productKey: string): PreparedCandidate<number>[] | undefined => {
    const set = routeTable.candidates(productKey);
    if (set === undefined) return undefined;
    const epoch = routeTable.candidatesEpoch;
    const hit = byProduct.get(productKey);
    if (hit !== undefined && hit.epoch === epoch) return hit.candidates;
    const candidates: PreparedCandidate<number>[] = [];
    for (const i of set) {
      const at = opts.regionAt(routeTable.regionAt(i));
      if (at !== undefined) candidates.push({ at: prepare(at), id: routeTable.instanceAt(i), value: i });
    }
    byProduct.set(productKey, { epoch, candidates });
    return candidates;
  };

  return {
    /**
     * The instance index to answer for a nearest-placed device held by
     * `holder`, or a promise of it when a move was asked for.
     */
    resolve(productKey: string, deviceName: string, holder: number, peer: string, rawHeaders: readonly string[]): number | Promise<number> {
      const candidates = candidatesOf(productKey);
      if (candidates === undefined || candidates.length === 0) return holder;
      const loc = locator.locate(opts.clientIp.resolve(peer, rawHeaders));
      counted[loc.source].inc();
      if (loc.prepared === undefined) return holder;
      const best = nearestPrepared(loc.prepared, candidates, routeTable.instanceAt(holder));
      if (best === undefined || best.value === holder) return holder;
      const r = opts.place(productKey, deviceName, routeTable.instanceAt(holder), best.id);
      return typeof r === "string" ? routeTable.instance(r) : r.then((id) => routeTable.instance(id));
    },
  };
}
