import type { Db } from "./db.js";
import { PreconditionError } from "../domain/index.js";
import type { DeviceRef } from "./groups.js";

/** Sub-devices one gateway may have (the platform's limit). */
export const MAX_SUB_DEVICES = 1500;

/**
 * Gateway topology (docs/guides/thing-model.md "Gateways"): a gateway's
 * sub-devices at this instance, each with at most one gateway. A device
 * leaving the instance leaves its topology, as gateway and as sub-device
 * (R8); a sub-device that arrives has no gateway until one adds it.
 */
export function createTopologyRepo(db: Db, now: () => number) {
  const gatewayOf = db.prepare<[string, string], { gateway_product_key: string; gateway_device_name: string }>(
    "SELECT gateway_product_key, gateway_device_name FROM device_topology WHERE sub_product_key = ? AND sub_device_name = ?",
  );
  const insert = db.prepare("INSERT INTO device_topology(sub_product_key, sub_device_name, gateway_product_key, gateway_device_name, added_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
  const remove = db.prepare("DELETE FROM device_topology WHERE sub_product_key = ? AND sub_device_name = ? AND gateway_product_key = ? AND gateway_device_name = ?");
  const subs = db.prepare<[string, string], { sub_product_key: string; sub_device_name: string }>(
    "SELECT sub_product_key, sub_device_name FROM device_topology WHERE gateway_product_key = ? AND gateway_device_name = ? ORDER BY sub_product_key, sub_device_name",
  );
  const countSubs = db.prepare<[string, string], { n: number }>("SELECT count(*) AS n FROM device_topology WHERE gateway_product_key = ? AND gateway_device_name = ?");

  const repo = {
    gatewayOf(productKey: string, deviceName: string): DeviceRef | undefined {
      const r = gatewayOf.get(productKey, deviceName);
      return r === undefined ? undefined : { productKey: r.gateway_product_key, deviceName: r.gateway_device_name };
    },
    /**
     * Adds sub-devices to a gateway (the caller checked the devices: held
     * here, the gateway's product a gateway, each sub-device proven). A
     * sub-device of another gateway is refused whole. Returns how many were new.
     */
    add(gateway: DeviceRef, subDevices: readonly DeviceRef[]): number {
      return db.transaction(() => {
        let added = 0;
        for (const [i, s] of subDevices.entries()) {
          if (s.productKey === gateway.productKey && s.deviceName === gateway.deviceName) throw new PreconditionError("a gateway is not its own sub-device", { field: `sub_devices[${i}]` });
          const g = gatewayOf.get(s.productKey, s.deviceName);
          if (g !== undefined && (g.gateway_product_key !== gateway.productKey || g.gateway_device_name !== gateway.deviceName)) {
            throw new PreconditionError(`${s.productKey}/${s.deviceName} is a sub-device of gateway ${g.gateway_product_key}/${g.gateway_device_name}; remove it there first`, { field: `sub_devices[${i}]` });
          }
          added += insert.run(s.productKey, s.deviceName, gateway.productKey, gateway.deviceName, now()).changes;
        }
        if (countSubs.get(gateway.productKey, gateway.deviceName)!.n > MAX_SUB_DEVICES) {
          throw new PreconditionError(`gateway ${gateway.productKey}/${gateway.deviceName} would have more than ${MAX_SUB_DEVICES} sub-devices`, { field: "sub_devices" });
        }
        return added;
      })();
    },
    /** Removes sub-devices from a gateway; returns how many were its. */
    remove(gateway: DeviceRef, subDevices: readonly DeviceRef[]): number {
      return db.transaction(() => {
        let removed = 0;
        for (const s of subDevices) removed += remove.run(s.productKey, s.deviceName, gateway.productKey, gateway.deviceName).changes;
        return removed;
      })();
    },
    subDevices(gateway: DeviceRef): DeviceRef[] {
      return subs.all(gateway.productKey, gateway.deviceName).map((r) => ({ productKey: r.sub_product_key, deviceName: r.sub_device_name }));
    },
  };
  return repo;
}

export type TopologyRepo = ReturnType<typeof createTopologyRepo>;
