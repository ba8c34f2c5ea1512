export { normalizeIp, parseCidr, type Cidr, type IpFamily } from "./ip.js";
export { greatCircleKm, nearest, nearestPrepared, prepare, TIE_KM, type Candidate, type LatLon, type Prepared, type PreparedCandidate } from "./distance.js";
export { KNOWN_REGIONS } from "./regions.js";
export { createLocator, type Locator, type Location, type LocationSource, type GeoOverride, type LocatorOptions } from "./locator.js";
export { createClientIpResolver, parseForwarded, type ClientIpResolver } from "./client-ip.js";
export { packagedCityDatabases } from "./packaged.js";
