import type { DeviceRoute, RouteChange } from "../domain/index.js";
import type { DevicesRepo, ProductsRepo, RecordsRepo, StoreHub } from "../store/index.js";
import { randomBytes } from "node:crypto";
import { streamDeviceRouteBlocks } from "../store/index.js";
import { readRouteSnapshot, removeRouteSnapshot, routeSnapshotPath, writeRouteSnapshot } from "./route-snapshot.js";
import type { RouteTable, RouteTableStats } from "../routes/index.js";
import type { Logger } from "../log/index.js";
import type { InstanceDirectory } from "./instance-directory.js";

export interface RouteSyncOptions {
  routeTable: RouteTable;
  directory: InstanceDirectory;
  records: RecordsRepo;
  products: ProductsRepo;
  devices: DevicesRepo;
  hub: StoreHub;
  logger: Logger;
}

export type RouteSync = ReturnType<typeof createRouteSync>;

/**
 * Keeps the in-memory RouteTable (the bootstrap hot path) equal to what the
 * store holds plus what the stream brought, by these rules:
 * - a product made here is answered exactly (every device name is known);
 *   any other product (a received copy, or only a replicated route) falls
 *   back to its owner's endpoint for names it does not hold;
 * - a device held here or away from here follows its row; any other device
 *   follows its replicated route, and a route newer than the row wins;
 * - nearest-strategy candidates (R3) come from whichever is newer, the
 *   product here or its replicated route;
 * - instance endpoints come from the InstanceDirectory.
 * It follows committed changes through the store's hub, loads the table at
 * start, and applies records from the stream.
 */
export function createRouteSync(opts: RouteSyncOptions) {
  const { routeTable, directory, records, products, devices, logger: log } = opts;
  const self = directory.self.id;

  const setInstance = (id: string): void => {
    const i = directory.get(id);
    if (i === undefined) return;
    routeTable.setEndpoint(i.id, i.mqtt);
    routeTable.setRegion(i.id, i.region);
  };
  /** A product's nearest-strategy candidates (R3) from the newer of the product here and its replicated route. */
  const refreshCandidates = (pk: string): void => {
    const local = products.get(pk);
    const route = records.product(pk);
    const fromRoute = route !== undefined && (local === undefined || (local.ownerInstanceId !== self && route.version > local.version));
    routeTable.setCandidates(pk, fromRoute ? (route.deleted ? [] : route.candidates) : (local?.candidates ?? []));
  };
  /** Nearest-placed (R3) when the device's route says so for this holder. */
  const isNearest = (pk: string, dn: string, holder: string): boolean => {
    const r = records.device(pk, dn);
    return r !== undefined && r.nearest && r.holder === holder;
  };

  opts.hub.on("product.changed", (p) => {
    routeTable.setProduct(p.productKey, p.ownerInstanceId, p.ownerInstanceId === self);
    refreshCandidates(p.productKey);
  });
  opts.hub.on("product.deleted", ({ productKey }) => {
    const r = records.product(productKey);
    if (r !== undefined && !r.deleted) routeTable.setProduct(productKey, r.home, false);
    else routeTable.deleteProduct(productKey);
    refreshCandidates(productKey);
  });
  opts.hub.on("device.changed", (d) => routeTable.setDevice(d.productKey, d.deviceName, d.holder, d.disabled, isNearest(d.productKey, d.deviceName, d.holder)));
  opts.hub.on("device.deleted", (d) => routeTable.deleteDevice(d.productKey, d.deviceName));

  return {
    /**
     * The start-up load: instance endpoints, replicated routes, then what
     * this daemon holds or made itself, which is newer wherever both exist.
     * `dataDir` holds the store, read on a worker thread in blocks.
     */
    async load(dataDir: string): Promise<RouteTableStats & { ms: number; from: "snapshot" | "store"; why?: string }> {
      const t0 = performance.now();
      // The device entries from the snapshot a clean shutdown left, while the
      // store says it still matches; the mark goes before anything is written.
      const snapshotId = records.routeSnapshot();
      let snapshot: ReturnType<typeof readRouteSnapshot> = "no snapshot recorded in the store";
      if (snapshotId !== "") {
        records.setRouteSnapshot("");
        snapshot = readRouteSnapshot(routeSnapshotPath(dataDir), snapshotId);
        if (typeof snapshot !== "string") routeTable.restore(snapshot);
      }
      removeRouteSnapshot(routeSnapshotPath(dataDir));
      for (const i of directory.all()) setInstance(i.id);
      for (const p of records.products()) {
        if (p.deleted) continue;
        routeTable.setProduct(p.productKey, p.home, false);
        if (p.candidates.length > 0) refreshCandidates(p.productKey);
      }
      for (const p of products.all()) {
        routeTable.setProduct(p.productKey, p.ownerInstanceId, p.ownerInstanceId === self);
        if (p.candidates.length > 0) refreshCandidates(p.productKey);
      }
      if (typeof snapshot !== "string") return { ...routeTable.stats(), ms: Math.round(performance.now() - t0), from: "snapshot" };
      routeTable.reserveDevices(records.counts().devices + devices.countAll());
      await streamDeviceRouteBlocks(dataDir, (block) => routeTable.loadDeviceBlock(block));
      routeTable.endLoad();
      for (const d of devices.routeEntries()) routeTable.setDevice(d.productKey, d.deviceName, d.holder, d.disabled);
      // Nearest-placed devices (R3) carry a flag the blocks do not.
      for (const r of records.nearestDevices()) {
        const disabled = r.holder === self && devices.get(r.productKey, r.deviceName)?.disabled === true;
        routeTable.setDevice(r.productKey, r.deviceName, r.holder, disabled, true);
      }
      return { ...routeTable.stats(), ms: Math.round(performance.now() - t0), from: "store", why: snapshot };
    },

    /**
     * At a clean shutdown, once nothing writes any more: the device entries
     * to a snapshot file, then its id into the store. Returns its size.
     */
    saveSnapshot(dataDir: string): number {
      const id = randomBytes(8).toString("hex");
      const bytes = writeRouteSnapshot(routeSnapshotPath(dataDir), id, routeTable.snapshot());
      records.setRouteSnapshot(id);
      return bytes;
    },

    /** Brings the table (and, after a restore, the device rows) up to records applied from the stream. */
    applyReplicated(changes: readonly RouteChange[]): void {
      for (const c of changes) {
        if (c.kind === "device") {
          const r = c.route;
          // Holder changes that this store did not see (it was restored from
          // an older backup) are brought into the device rows. In normal
          // operation the table already agrees, and nothing is read.
          if ((routeTable.deviceHolder(r.productKey, r.deviceName) === self) !== (r.holder === self)) {
            const done = devices.reconcileRoute(r.productKey, r.deviceName, r.holder, r.generation);
            if (done === "missing") {
              log.warn({ product: r.productKey, device: r.deviceName, holder: r.holder, generation: r.generation }, "a route says this instance holds a device it has no certificate of (received after the restored backup): distribute it again from its source");
            } else if (done !== undefined) {
              log.info({ product: r.productKey, device: r.deviceName, now: done, holder: r.holder, generation: r.generation }, "device row brought up to its newer route");
            }
          }
          const local = r.holder === self ? devices.get(r.productKey, r.deviceName) : undefined;
          routeTable.setDevice(r.productKey, r.deviceName, r.holder, local?.disabled ?? false, r.nearest);
        } else if (c.kind === "product") {
          const r = c.route;
          refreshCandidates(r.productKey);
          if (products.get(r.productKey) !== undefined) continue; // what is here is answered from here
          if (r.deleted) routeTable.deleteProduct(r.productKey);
          else routeTable.setProduct(r.productKey, r.home, false);
        } else if (c.kind === "instance" && c.route.instanceId !== self) {
          directory.learn(c.route);
          setInstance(c.route.instanceId);
        }
      }
    },

    /** A device route learned from its holder (placement), applied like a record from the stream: only a higher generation. */
    learned(route: DeviceRoute): void {
      if (records.commit({ kind: "device", route }, false)) routeTable.setDevice(route.productKey, route.deviceName, route.holder, false, route.nearest);
    },
  };
}
