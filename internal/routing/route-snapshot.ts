import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { RouteSnapshot, RouteSnapshotMeta } from "../routes/index.js";

/**
 * The route table's device entries on disk (docs/operating/backup-restore.md
 * "Route snapshot"): a clean shutdown writes them, and the next start-up
 * reads them in one pass instead of hashing every route from SQLite — if the
 * store still says it matches (its id is recorded in the store after the
 * file is complete, and cleared at start-up before anything is written, so a
 * crash, a restore or any write since leaves the SQLite load).
 *
 * Edge workers start from the same format, written by the daemon with the
 * rest of the table (products, endpoints, regions, candidate sets) in the
 * header: internal/bootstrap/edge-pool.ts.
 *
 * Format: one JSON line (format, id, instance ids, sizes, the SipHash key
 * that made the fingerprints, the rest of the table when written), then the
 * slots as little-endian int32. 0600, written beside and renamed into place.
 */
export const ROUTE_SNAPSHOT_FILE = "routes.snapshot";
const FORMAT = "iotfed-route-snapshot/1";

interface Header {
  format: string;
  id: string;
  instanceIds: string[];
  capacity: number;
  live: number;
  tombstones: number;
  key: string;
  slotsBytes: number;
  meta?: RouteSnapshotMeta;
}

/** Where a daemon's shutdown snapshot lives. */
export const routeSnapshotPath = (dataDir: string): string => join(dataDir, ROUTE_SNAPSHOT_FILE);

/** Writes a snapshot to `path`; returns its size in bytes. */
export function writeRouteSnapshot(path: string, id: string, s: RouteSnapshot): number {
  const tmp = `${path}.tmp`;
  const { table } = s;
  const header: Header = {
    format: FORMAT,
    id,
    instanceIds: s.instanceIds,
    capacity: table.capacity,
    live: table.live,
    tombstones: table.tombstones,
    key: Buffer.from(table.key).toString("hex"),
    slotsBytes: table.slots.byteLength,
    ...(s.meta === undefined ? {} : { meta: s.meta }),
  };
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, `${JSON.stringify(header)}\n`);
    const bytes = new Uint8Array(table.slots.buffer, table.slots.byteOffset, table.slots.byteLength);
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, Math.min(64 << 20, bytes.length - at));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  return statSync(path).size;
}

/** The snapshot with this id, or why not (a missing, other or damaged file). */
export function readRouteSnapshot(path: string, id: string): RouteSnapshot | string {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return "no snapshot file";
  }
  try {
    const size = statSync(path).size;
    // The header grows with the products a snapshot with the rest of the table holds.
    let head = Buffer.alloc(Math.min(size, 1 << 20));
    readSync(fd, head, 0, head.length, 0);
    let nl = head.indexOf(10);
    while (nl < 0 && head.length < Math.min(size, 256 << 20)) {
      head = Buffer.alloc(Math.min(size, head.length * 4));
      readSync(fd, head, 0, head.length, 0);
      nl = head.indexOf(10);
    }
    if (nl < 0) return "no header";
    let h: Header;
    try {
      h = JSON.parse(head.toString("utf8", 0, nl)) as Header;
    } catch {
      return "a damaged header";
    }
    if (h.format !== FORMAT) return `format ${String(h.format)}`;
    if (h.id !== id) return "another snapshot than the store's";
    if (size !== nl + 1 + h.slotsBytes || h.slotsBytes !== h.capacity * 5 * 4) return "a damaged or partial file";
    const slots = new Int32Array(h.capacity * 5);
    const bytes = new Uint8Array(slots.buffer);
    for (let at = 0; at < bytes.length; ) {
      const n = readSync(fd, bytes, at, Math.min(64 << 20, bytes.length - at), nl + 1 + at);
      if (n === 0) return "a partial file";
      at += n;
    }
    return { instanceIds: h.instanceIds, table: { capacity: h.capacity, live: h.live, tombstones: h.tombstones, key: Buffer.from(h.key, "hex"), slots }, meta: h.meta };
  } finally {
    closeSync(fd);
  }
}

export function removeRouteSnapshot(path: string): void {
  rmSync(path, { force: true });
}
