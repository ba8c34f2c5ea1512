import { readFileSync } from "node:fs";
import { Reader, type Response } from "mmdb-lib";
import { prepare, type LatLon, type Prepared } from "./distance.js";
import { normalizeIp, parseCidr, type Cidr, type IpFamily } from "./ip.js";

export type LocationSource = "override" | "database" | "unknown";

export interface Location {
  source: LocationSource;
  /** Present unless the source is "unknown". */
  at?: LatLon;
  /** `at`, prepared for distance computations. */
  prepared?: Prepared;
  /** The override's region, when the override names one. */
  region?: string;
}

export interface GeoOverride {
  cidr: string;
  /** Coordinates of the network... */
  latitude?: number | undefined;
  longitude?: number | undefined;
  /** ...or the region it should count as being in. */
  region?: string | undefined;
}

export interface LocatorOptions {
  /** MMDB files (MaxMind DB format); an empty list means overrides only. */
  databases: readonly string[];
  overrides: readonly GeoOverride[];
  /** Coordinates of a region id (for overrides that name a region). */
  regionAt: (region: string) => LatLon | undefined;
  /** Locations kept per client address. */
  cacheSize: number;
}

/**
 * Two record layouts are read: MaxMind's GeoIP2/GeoLite2 City
 * (`location.latitude`) and the flat one of the packaged DB-IP City Lite
 * database (`latitude`).
 */
interface CityRecord {
  latitude?: number;
  longitude?: number;
  location?: { latitude?: number; longitude?: number };
}

interface OpenDatabase {
  path: string;
  ipVersion: number;
  reader: Reader<Response>;
  builtAt: Date;
  type: string;
}

/** One database file, read into memory and checked to be a MaxMind DB. */
function openDatabase(path: string): OpenDatabase {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new Error(`geo.databases: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
  }
  let reader: Reader<Response>;
  try {
    reader = new Reader<Response>(buf);
  } catch (e) {
    throw new Error(`geo.databases: ${path} is not a MaxMind DB (MMDB) file: ${(e as Error).message}`, { cause: e });
  }
  return { path, ipVersion: reader.metadata.ipVersion, reader, builtAt: reader.metadata.buildEpoch, type: reader.metadata.databaseType };
}

const coordinates = (r: CityRecord | null): LatLon | undefined => {
  if (r === null) return undefined;
  const lat = r.location?.latitude ?? r.latitude;
  const lon = r.location?.longitude ?? r.longitude;
  if (typeof lat !== "number" || typeof lon !== "number" || !Number.isFinite(lat) || !Number.isFinite(lon)) return undefined;
  return { latitude: lat, longitude: lon };
};

interface ParsedOverride {
  cidr: Cidr;
  location: Location;
}

export type Locator = ReturnType<typeof createLocator>;

/**
 * Client address → location (ARCHITECTURE.md "The bootstrap hot path",
 * nearest strategy): operator overrides first (most specific block wins),
 * then the databases; each answer is cached per address, so a device that
 * bootstraps again costs one map lookup.
 */
export function createLocator(opts: LocatorOptions) {
  const dbs = opts.databases.map(openDatabase);
  // IPv4 addresses are looked up in IPv4 databases first; an IPv6 database
  // (MaxMind's hold IPv4 too) answers what they do not.
  const v4 = [...dbs.filter((d) => d.ipVersion === 4), ...dbs.filter((d) => d.ipVersion === 6)];
  const v6 = dbs.filter((d) => d.ipVersion === 6);
  const overrides: ParsedOverride[] = opts.overrides
    .map((o, i): ParsedOverride => {
      let cidr: Cidr;
      try {
        cidr = parseCidr(o.cidr);
      } catch (e) {
        throw new Error(`geo.overrides[${i}].cidr: ${(e as Error).message}`, { cause: e });
      }
      if (o.region !== undefined) {
        const at = opts.regionAt(o.region);
        if (at === undefined) throw new Error(`geo.overrides[${i}].region: no coordinates are known for region ${o.region}: add it to geo.regions`);
        return { cidr, location: { source: "override", at, prepared: prepare(at), region: o.region } };
      }
      if (o.latitude === undefined || o.longitude === undefined) throw new Error(`geo.overrides[${i}]: needs region, or latitude and longitude`);
      const at = { latitude: o.latitude, longitude: o.longitude };
      return { cidr, location: { source: "override", at, prepared: prepare(at) } };
    })
    // Most specific first; equal prefixes keep their configured order.
    .map((o, i) => ({ o, i }))
    .sort((a, b) => b.o.cidr.prefix - a.o.cidr.prefix || a.i - b.i)
    .map(({ o }) => o);

  const cache = new Map<string, Location>();
  const UNKNOWN: Location = { source: "unknown" };

  const resolve = (address: string, family: IpFamily): Location => {
    for (const o of overrides) if (o.cidr.contains(address, family)) return o.location;
    for (const d of family === "ipv4" ? v4 : v6) {
      let at: LatLon | undefined;
      try {
        at = coordinates(d.reader.get(address) as CityRecord | null);
      } catch {
        at = undefined; // an address this database cannot hold (e.g. IPv6 in an IPv4 file)
      }
      if (at !== undefined) return { source: "database", at, prepared: prepare(at) };
    }
    return UNKNOWN;
  };

  return {
    /** The location of a client address (any textual form); cached per address. */
    locate(ip: string): Location {
      const hit = cache.get(ip);
      if (hit !== undefined) return hit;
      const n = normalizeIp(ip);
      const loc = n === undefined ? UNKNOWN : resolve(n.address, n.family);
      // Bounded: when full, the oldest half goes (insertion order), so a scan
      // of many addresses cannot grow the cache and busy devices stay cached.
      if (cache.size >= opts.cacheSize) {
        let drop = cache.size >> 1;
        for (const k of cache.keys()) {
          cache.delete(k);
          if (--drop <= 0) break;
        }
      }
      cache.set(ip, loc);
      return loc;
    },
    cacheSize(): number {
      return cache.size;
    },
    databases(): { path: string; ipVersion: number; type: string; builtAt: Date }[] {
      return dbs.map((d) => ({ path: d.path, ipVersion: d.ipVersion, type: d.type, builtAt: d.builtAt }));
    },
  };
}
