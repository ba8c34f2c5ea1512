/** Mean Earth radius (IUGG), kilometres. */
export const EARTH_RADIUS_KM = 6371.0088;

export interface LatLon {
  latitude: number;
  longitude: number;
}

const RAD = Math.PI / 180;

/** Great-circle distance in kilometres (haversine, stable for short and antipodal distances). */
export function greatCircleKm(a: LatLon, b: LatLon): number {
  const dLat = (b.latitude - a.latitude) * RAD;
  const dLon = (b.longitude - a.longitude) * RAD;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.latitude * RAD) * Math.cos(b.latitude * RAD) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Distances closer than this are a tie (a metre: well under any database's precision). */
export const TIE_KM = 0.001;

export interface Candidate<T> extends LatLon {
  /** Instance id: breaks ties between instances that are not the holder. */
  id: string;
  value: T;
}

/**
 * The candidate nearest to `at` by great-circle distance (R3). Ties are
 * broken deterministically: the current holder wins a tie (a device never
 * moves between two equally near places), then the smaller instance id.
 * Undefined when there is no candidate.
 */
export function nearest<T>(at: LatLon, candidates: readonly Candidate<T>[], holderId?: string): Candidate<T> | undefined {
  let best: Candidate<T> | undefined;
  let bestKm = Infinity;
  for (const c of candidates) {
    const km = greatCircleKm(at, c);
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
