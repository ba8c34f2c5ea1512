import {
  InvalidArgumentError,
  NICKNAME_MAX,
  NotFoundError,
  actingAccount,
  assertCanRegisterUnder,
  assertDeviceDeletable,
  checkBatchSize,
  checkDeviceName,
  checkTag,
  checkText,
  deviceStatus,
  granteeRefusal,
  newDeviceName,
  pageSize,
} from "../domain/index.js";
import type { HandlerKit, Handlers } from "./context.js";
import * as wire from "./convert.js";

type DeviceMethods =
  | "registerDevice"
  | "batchRegisterDevice"
  | "queryDeviceDetail"
  | "queryDevice"
  | "deleteDevice"
  | "disableThing"
  | "enableThing"
  | "saveDeviceProp"
  | "queryDeviceProp"
  | "deleteDeviceProp"
  | "updateDeviceShadow"
  | "getDeviceShadow";

const SHADOW_MAX = 16 * 1024;

/**
 * Devices: registration under a product owned here (R9), detail and lists
 * (a grantee sees its granted devices, never a DeviceSecret, R15), the
 * holder's runtime data (tags, shadow), enable/disable, delete (R11).
 */
export function deviceHandlers({ deps, access }: HandlerKit): Handlers<DeviceMethods> {
  const { devices, grants } = deps.repos;
  const self = deps.directory.self.id;
  const { where } = access;

  return {
    registerDevice(req, ctx) {
      assertCanRegisterUnder(access.ownedProduct(ctx, req.productKey), self, where);
      const deviceName = req.deviceName === "" ? newDeviceName() : checkDeviceName(req.deviceName);
      const { device, secret } = devices.register(req.productKey, { deviceName, nickname: checkText(req.nickname, "nickname", NICKNAME_MAX) });
      return { device: wire.deviceToWire(device, secret) };
    },
    batchRegisterDevice(req, ctx) {
      assertCanRegisterUnder(access.ownedProduct(ctx, req.productKey), self, where);
      let names: string[];
      if (req.deviceNames.length > 0) {
        if (req.count !== 0) throw new InvalidArgumentError("count", "give device_names or count, not both");
        checkBatchSize(req.deviceNames.length, deps.maxDevicesPerBatch, "device_names");
        names = req.deviceNames;
      } else {
        checkBatchSize(req.count, deps.maxDevicesPerBatch, "count");
        names = Array.from({ length: req.count }, newDeviceName);
      }
      const results = devices.registerBatch(
        req.productKey,
        names.map((deviceName) => ({ deviceName, nickname: "" })),
        (d, i) => checkDeviceName(d.deviceName, `device_names[${i}]`),
      );
      let ok = 0;
      const out = results.map((r) => {
        if (r.ok) {
          ok++;
          return { deviceName: r.device.deviceName, success: true, device: wire.deviceToWire(r.device, r.secret) };
        }
        return { deviceName: r.deviceName, success: false, errorMessage: r.error.message, errorCode: r.error.code };
      });
      return { results: out, successCount: ok, failureCount: out.length - ok };
    },
    queryDeviceDetail(req, ctx) {
      let v: ReturnType<typeof access.visibleDevice>;
      if (req.iotId !== "") {
        if (req.productKey !== "" || req.deviceName !== "") throw new InvalidArgumentError("iot_id", "give iot_id or product_key and device_name, not both");
        const byId = devices.getByIotId(req.iotId);
        if (byId === undefined) throw new NotFoundError(`device ${req.iotId} does not exist`, { field: "iot_id" });
        try {
          v = access.visibleDevice(ctx, byId.productKey, byId.deviceName);
        } catch (e) {
          if (e instanceof NotFoundError) throw new NotFoundError(`device ${req.iotId} does not exist`, { field: "iot_id" });
          throw e;
        }
      } else v = access.visibleDevice(ctx, req.productKey, req.deviceName);
      const d = v.d;
      // R15: a grantee sees everything but the DeviceSecret.
      if (req.includeSecret && v.granted) throw granteeRefusal("read its DeviceSecret", d.productKey, actingAccount(ctx.principal));
      const secret = req.includeSecret ? devices.secret(d.productKey, d.deviceName) : undefined;
      return { device: wire.deviceToWire(d, secret) };
    },
    queryDevice(req, ctx) {
      const { granted } = access.visibleProduct(ctx, req.productKey);
      const status = wire.deviceStatusFromWire(req.status);
      const prefix = checkText(req.deviceNamePrefix, "device_name_prefix", 32);
      if (granted) {
        // A grantee lists the devices granted to it (R15).
        const page = grants.grantedDevicesPage(req.productKey, actingAccount(ctx.principal), pageSize(req.pageSize), req.pageToken);
        const list = page.items
          .map((dn) => devices.get(req.productKey, dn))
          .filter((d) => d !== undefined)
          .filter((d) => (status === undefined || deviceStatus(d) === status) && d.deviceName.startsWith(prefix));
        return { devices: list.map((d) => wire.deviceToWire(d)), nextPageToken: page.nextPageToken };
      }
      const page = devices.list(req.productKey, pageSize(req.pageSize), req.pageToken, {
        ...(status === undefined ? {} : { status }),
        ...(prefix === "" ? {} : { namePrefix: prefix }),
      });
      return { devices: page.items.map((d) => wire.deviceToWire(d)), nextPageToken: page.nextPageToken };
    },
    deleteDevice(req, ctx) {
      assertDeviceDeletable(access.ownedDevice(ctx, req.productKey, req.deviceName), self, where);
      grants.forgetDevice(req.productKey, req.deviceName);
      devices.delete(req.productKey, req.deviceName);
      return {};
    },
    disableThing(req, ctx) {
      access.heldDevice(ctx, req.productKey, req.deviceName);
      devices.setDisabled(req.productKey, req.deviceName, true);
      return {};
    },
    enableThing(req, ctx) {
      access.heldDevice(ctx, req.productKey, req.deviceName);
      devices.setDisabled(req.productKey, req.deviceName, false);
      return {};
    },
    saveDeviceProp(req, ctx) {
      access.heldDevice(ctx, req.productKey, req.deviceName);
      if (req.props.length === 0) throw new InvalidArgumentError("props", "must hold at least one tag");
      req.props.forEach((p, i) => checkTag(p.key, p.value, i));
      devices.saveTags(req.productKey, req.deviceName, req.props.map((p) => ({ key: p.key, value: p.value })));
      return {};
    },
    queryDeviceProp(req, ctx) {
      access.visibleDevice(ctx, req.productKey, req.deviceName);
      return { props: devices.tags(req.productKey, req.deviceName) };
    },
    deleteDeviceProp(req, ctx) {
      access.heldDevice(ctx, req.productKey, req.deviceName);
      if (req.key === "") throw new InvalidArgumentError("key", "is required");
      devices.deleteTag(req.productKey, req.deviceName, req.key);
      return {};
    },
    updateDeviceShadow(req, ctx) {
      access.heldDevice(ctx, req.productKey, req.deviceName);
      if (Buffer.byteLength(req.shadowJson) > SHADOW_MAX) throw new InvalidArgumentError("shadow_json", `must be at most ${SHADOW_MAX} bytes`);
      let doc: unknown;
      try {
        doc = JSON.parse(req.shadowJson);
      } catch {
        throw new InvalidArgumentError("shadow_json", "is not valid JSON");
      }
      if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new InvalidArgumentError("shadow_json", "must be a JSON object");
      return { version: BigInt(devices.setShadow(req.productKey, req.deviceName, JSON.stringify(doc))) };
    },
    getDeviceShadow(req, ctx) {
      access.visibleDevice(ctx, req.productKey, req.deviceName);
      const s = devices.shadow(req.productKey, req.deviceName);
      return { shadowJson: s.json, version: BigInt(s.version) };
    },
  };
}
