/** Mean Earth radius (IUGG), kilometres. */
export const EARTH_RADIUS_KM = 6371.0088;

export interface LatLon {
  latitude: number;
  longitude: number;
}

const RAD = Math.PI / 180;

/** A point with the values the haversine needs, computed once (the hot path compares many). */
export interface Prepared {
  lat: number;
  lon: number;
  cosLat: number;
}

export function prepare(p: LatLon): Prepared {
  return { lat: p.latitude * RAD, lon: p.longitude * RAD, cosLat: Math.cos(p.latitude * RAD) };
}

/** Great-circle distance in kilometres between prepared points (haversine: stable for short and antipodal distances). */
export function preparedKm(a: Prepared, b: Prepared): number {
  const sLat = Math.sin((b.lat - a.lat) / 2);
  const sLon = Math.sin((b.lon - a.lon) / 2);
  const h = sLat * sLat + a.cosLat * b.cosLat * sLon * sLon;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Great-circle distance in kilometres. */
export function greatCircleKm(a: LatLon, b: LatLon): number {
  return preparedKm(prepare(a), prepare(b));
}

/** Distances closer than this are a tie (a metre: well under any database's precision). */
export const TIE_KM = 0.001;

export interface Candidate<T> extends LatLon {
  /** Instance id: breaks ties between instances that are not the holder. */
  id: string;
  value: T;
}

export interface PreparedCandidate<T> {
  at: Prepared;
  id: string;
  value: T;
}

/**
 * The candidate nearest to `at` by great-circle distance (R3). Ties are
 * broken deterministically: the current holder wins a tie (a device never
 * moves between two equally near places), then the smaller instance id.
 * Undefined when there is no candidate.
 */
export function nearestPrepared<T>(at: Prepared, candidates: readonly PreparedCandidate<T>[], holderId?: string): PreparedCandidate<T> | undefined {
  let best: PreparedCandidate<T> | undefined;
  let bestKm = Infinity;
  for (const c of candidates) {
    const km = preparedKm(at, c.at);
    if (best === undefined || km < bestKm - TIE_KM) {
      best = c;
      bestKm = km;
    } else if (km <= bestKm + TIE_KM) {
      const bestIsHolder = best.id === holderId;
      const cIsHolder = c.id === holderId;
      if (cIsHolder || (!bestIsHolder && c.id < best.id)) {
        best = c;
        bestKm = Math.min(km, bestKm);
      }
    }
  }
  return best;
}

/** `nearestPrepared` for plain coordinates. */
export function nearest<T>(at: LatLon, candidates: readonly Candidate<T>[], holderId?: string): Candidate<T> | undefined {
  const best = nearestPrepared(
    prepare(at),
    candidates.map((c) => ({ at: prepare(c), id: c.id, value: c })),
    holderId,
  );
  return best?.value;
}
