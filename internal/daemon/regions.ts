import type { Config } from "../config/index.js";
import { KNOWN_REGIONS, type LatLon } from "../geo/index.js";

/**
 * Where a region is, for the nearest strategy (R3): `geo.regions` first,
 * then this daemon's own `region.latitude/longitude`, then the regions the
 * platform is known to run in.
 */
export function regionCoordinates(config: Config): (region: string) => LatLon | undefined {
  return (region) =>
    config.geo.regions[region] ??
    (region === config.region.id && config.region.latitude !== undefined && config.region.longitude !== undefined
      ? { latitude: config.region.latitude, longitude: config.region.longitude }
      : KNOWN_REGIONS[region]);
}
