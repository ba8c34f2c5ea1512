/**
 * Route table: the compact off-heap RouteTable against the obvious baseline,
 * JS Maps (productKey → Map<deviceName, endpoint>), on the same keys in the
 * same run. As in production, each structure holds its own copy of the keys
 * (loaded from the store) and every lookup gets a freshly built name string
 * (parsed from a request); the cost of building that string is measured on
 * its own and subtracted. Reports memory per entry (JS heap + off-heap),
 * build time, and lookup time for hits and misses, with ratios
 * (baseline / ours: above 1 means ours is better).
 */
import { RouteTable } from "../internal/routes/index.js";

const gc = (globalThis as { gc?: () => void }).gc;

function mem(): number {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** A fresh DeviceName string for device i (20-26 chars, with `@` and `.`). */
const nameOf = (i: number): string => `dev-${i.toString(36).padStart(8, "0")}@site.${i % 97}`;

function time(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

export interface Side {
  bytesPerEntry: number;
  buildMs: number;
  hitNs: number;
  missNs: number;
}
export interface RouteBenchResult {
  devices: number;
  harnessNs: number;
  ours: Side;
  baseline: Side;
}

export function benchRouteTable(n: number, lookups: number): RouteBenchResult {
  if (gc === undefined) throw new Error("run with node --expose-gc");
  const products = 1000;
  const pks = Array.from({ length: products }, (_, i) => `pk${String(i).padStart(9, "0")}`);
  const ep = { host: "iot-as-mqtt.cn-shanghai.example.com", port: 1883 };
  const probe = Uint32Array.from({ length: lookups }, (_, i) => (i * 7919) % n);
  let sink = 0;

  const harness = time(() => {
    for (const i of probe) sink += nameOf(i).length;
  });

  const measure = (build: () => void, hit: (pk: string, dn: string) => number, miss: (pk: string, dn: string) => number): Side => {
    const before = mem();
    const buildMs = time(build);
    const bytes = (mem() - before) / n;
    const hitMs = time(() => {
      for (const i of probe) sink += hit(pks[i % products]!, nameOf(i));
    });
    const missMs = time(() => {
      for (const i of probe) sink += miss(pks[(i + 1) % products]!, nameOf(i));
    });
    return { bytesPerEntry: bytes, buildMs, hitNs: ((hitMs - harness) * 1e6) / lookups, missNs: ((missMs - harness) * 1e6) / lookups };
  };

  const rt = new RouteTable();
  const ours = measure(
    () => {
      rt.setEndpoint("sh-1", ep);
      for (const pk of pks) rt.setProduct(pk, "sh-1", true);
      for (let i = 0; i < n; i++) rt.setDevice(pks[i % products]!, nameOf(i), "sh-1", false);
    },
    (pk, dn) => rt.lookup(pk, dn),
    (pk, dn) => rt.lookup(pk, dn),
  );

  const map = new Map<string, Map<string, number>>();
  const baseline = measure(
    () => {
      for (const pk of pks) map.set(pk, new Map());
      for (let i = 0; i < n; i++) map.get(pks[i % products]!)!.set(nameOf(i), 0);
    },
    (pk, dn) => map.get(pk)?.get(dn) ?? -1,
    (pk, dn) => map.get(pk)?.get(dn) ?? -1,
  );
  if (sink === 42) console.log("");
  return { devices: n, harnessNs: (harness * 1e6) / lookups, ours, baseline };
}
