import { InvalidArgumentError, PreconditionError, actingAccount, checkBatchSize, pageSize } from "../domain/index.js";
import type { DeviceGroup, DeviceRef } from "../store/index.js";
import type { AdminContext, HandlerKit, Handlers } from "./context.js";

type GroupMethods =
  | "createDeviceGroup"
  | "deleteDeviceGroup"
  | "queryDeviceGroupList"
  | "batchAddDeviceGroupRelations"
  | "batchDeleteDeviceGroupRelations"
  | "queryDeviceListByDeviceGroup"
  | "queryDeviceGroupByDevice"
  | "getThingTopo"
  | "batchAddThingTopo"
  | "removeThingTopo";

/** Devices per group or topology call. */
const MAX_PER_CALL = 1000;
const MAX_TOPO_PER_CALL = 100;

const groupToWire = (g: DeviceGroup) => ({ groupId: g.groupId, groupName: g.groupName, groupDesc: g.description, deviceCount: g.deviceCount, createTimeMs: BigInt(g.createdAt) });

/**
 * Device groups and gateway topology, local to this instance: an account
 * groups its devices held here, and joins sub-devices to its gateways. A
 * device that leaves the instance leaves both (R8).
 */
export function groupHandlers({ deps, access }: HandlerKit): Handlers<GroupMethods> {
  const { groups, topology, products } = deps.repos;
  /** The devices of a call: the caller's, held here; named by their index when not. */
  const held = (ctx: AdminContext, devices: readonly { productKey: string; deviceName: string }[], field: string, max: number): DeviceRef[] => {
    checkBatchSize(devices.length, max, field);
    return devices.map((d) => {
      access.heldDevice(ctx, d.productKey, d.deviceName);
      return { productKey: d.productKey, deviceName: d.deviceName };
    });
  };
  const gateway = (ctx: AdminContext, productKey: string, deviceName: string): DeviceRef => {
    access.heldDevice(ctx, productKey, deviceName);
    if (products.get(productKey)?.nodeType !== "gateway") throw new PreconditionError(`product ${productKey} is not a gateway product: its devices have no sub-devices`, { field: "product_key" });
    return { productKey, deviceName };
  };
  return {
    createDeviceGroup(req, ctx) {
      return { group: groupToWire(groups.create(actingAccount(ctx.principal), req.groupName, req.groupDesc)) };
    },
    deleteDeviceGroup(req, ctx) {
      if (req.groupId === "") throw new InvalidArgumentError("group_id", "is required");
      groups.delete(actingAccount(ctx.principal), req.groupId);
      return {};
    },
    queryDeviceGroupList(req, ctx) {
      const page = groups.list(actingAccount(ctx.principal), pageSize(req.pageSize), req.pageToken);
      return { groups: page.items.map(groupToWire), nextPageToken: page.nextPageToken };
    },
    batchAddDeviceGroupRelations(req, ctx) {
      if (req.groupId === "") throw new InvalidArgumentError("group_id", "is required");
      return { added: groups.addDevices(actingAccount(ctx.principal), req.groupId, held(ctx, req.devices, "devices", MAX_PER_CALL)) };
    },
    batchDeleteDeviceGroupRelations(req, ctx) {
      if (req.groupId === "") throw new InvalidArgumentError("group_id", "is required");
      checkBatchSize(req.devices.length, MAX_PER_CALL, "devices");
      return { removed: groups.removeDevices(actingAccount(ctx.principal), req.groupId, req.devices.map((d) => ({ productKey: d.productKey, deviceName: d.deviceName }))) };
    },
    queryDeviceListByDeviceGroup(req, ctx) {
      if (req.groupId === "") throw new InvalidArgumentError("group_id", "is required");
      const page = groups.devices(actingAccount(ctx.principal), req.groupId, pageSize(req.pageSize), req.pageToken);
      return { devices: page.items, nextPageToken: page.nextPageToken };
    },
    queryDeviceGroupByDevice(req, ctx) {
      access.ownedDevice(ctx, req.productKey, req.deviceName);
      return { groups: groups.groupsOf(actingAccount(ctx.principal), req.productKey, req.deviceName).map(groupToWire) };
    },
    getThingTopo(req, ctx) {
      access.visibleDevice(ctx, req.productKey, req.deviceName);
      return { subDevices: topology.subDevices({ productKey: req.productKey, deviceName: req.deviceName }) };
    },
    batchAddThingTopo(req, ctx) {
      const gw = gateway(ctx, req.productKey, req.deviceName);
      const subs = held(ctx, req.subDevices, "sub_devices", MAX_TOPO_PER_CALL);
      subs.forEach((s, i) => {
        if (products.get(s.productKey)?.nodeType === "gateway") throw new InvalidArgumentError(`sub_devices[${i}]`, `${s.productKey}/${s.deviceName} is a gateway: a gateway is not a sub-device`);
      });
      return { added: topology.add(gw, subs) };
    },
    removeThingTopo(req, ctx) {
      const gw = gateway(ctx, req.productKey, req.deviceName);
      checkBatchSize(req.subDevices.length, MAX_TOPO_PER_CALL, "sub_devices");
      return { removed: topology.remove(gw, req.subDevices.map((d) => ({ productKey: d.productKey, deviceName: d.deviceName }))) };
    },
  };
}
