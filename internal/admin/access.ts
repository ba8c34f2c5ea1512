import {
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  actingAccount,
  assertHeldHere,
  assertProductWritable,
  checkAccountId,
  checkAccountName,
  checkDeviceName,
  checkProductKey,
  granteeRefusal,
  type Account,
  type Device,
  type DistributionRef,
  type Job,
  type Product,
  type TopicClass,
} from "../domain/index.js";
import type { AdminContext, AdminDeps } from "./context.js";

export type Access = ReturnType<typeof createAccess>;

/**
 * Who may see and change what, in one place. An account sees what it owns
 * and what it was granted (R15: read only); a product, device, topic class
 * or job of another account does not exist for it (NOT_FOUND, never a hint
 * that it exists).
 */
export function createAccess(deps: AdminDeps) {
  const { accounts, products, devices, jobs, grants } = deps.repos;
  const { directory } = deps;
  const self = directory.self.id;
  const where = (id: string): string => directory.where(id);

  /** A product the caller owns, or was granted (R15: read only). */
  const visibleProduct = (ctx: AdminContext, productKey: string): { p: Product; granted: boolean } => {
    checkProductKey(productKey);
    const p = products.get(productKey);
    const account = actingAccount(ctx.principal);
    if (p !== undefined) {
      if (p.accountId === account) return { p, granted: false };
      if (grants.hasProductGrant(productKey, account)) return { p, granted: true };
    }
    throw new NotFoundError(`product ${productKey} does not exist`, { field: "product_key" });
  };
  /** A product the caller owns; a grantee is refused (R15), anyone else finds nothing. */
  const ownedProduct = (ctx: AdminContext, productKey: string): Product => {
    const v = visibleProduct(ctx, productKey);
    if (v.granted) throw granteeRefusal("change, delete, disable, distribute or grant it", productKey, actingAccount(ctx.principal));
    return v.p;
  };
  const ownedDevice = (ctx: AdminContext, productKey: string, deviceName: string): Device => {
    ownedProduct(ctx, productKey);
    checkDeviceName(deviceName);
    return devices.require(productKey, deviceName);
  };

  return {
    where,
    visibleProduct,
    ownedProduct,
    ownedDevice,
    /** R9: only the owner instance changes a product; its copies follow (the worker syncs them). */
    writableProduct(ctx: AdminContext, productKey: string): Product {
      const p = ownedProduct(ctx, productKey);
      assertProductWritable(p, self, where);
      return p;
    },
    /** A device the caller owns, or was granted with its product (R15). */
    visibleDevice(ctx: AdminContext, productKey: string, deviceName: string): { d: Device; granted: boolean } {
      const v = visibleProduct(ctx, productKey);
      checkDeviceName(deviceName);
      if (v.granted && !grants.hasDeviceGrant(productKey, deviceName, actingAccount(ctx.principal))) {
        throw new NotFoundError(`device ${productKey}/${deviceName} does not exist`, { field: "device_name" });
      }
      return { d: devices.require(productKey, deviceName), granted: v.granted };
    },
    /** An owned device that this instance holds now (its runtime data lives here). */
    heldDevice(ctx: AdminContext, productKey: string, deviceName: string): Device {
      const d = ownedDevice(ctx, productKey, deviceName);
      assertHeldHere(d, where);
      return d;
    },
    ownedTopic(ctx: AdminContext, topicId: bigint): TopicClass {
      if (topicId <= 0n || topicId > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidArgumentError("topic_id", "must be a positive id");
      const t = products.topic(Number(topicId));
      if (t === undefined) throw new NotFoundError(`topic class ${topicId} does not exist`, { field: "topic_id" });
      ownedProduct(ctx, t.productKey);
      return t;
    },
    ownedJob(ctx: AdminContext, jobId: string): Job {
      if (jobId === "") throw new InvalidArgumentError("job_id", "is required");
      const j = jobs.get(jobId);
      if (j === undefined || j.accountId !== actingAccount(ctx.principal)) throw new NotFoundError(`job ${jobId} does not exist`, { field: "job_id" });
      return j;
    },
    /** An account of the directory by id or by name (one of them). */
    directoryAccount(id: string, name: string, field: string): Account {
      if (id !== "" && name !== "") throw new InvalidArgumentError(`${field}_id`, `give ${field}_id or ${field}_name, not both`);
      if (id === "" && name === "") throw new InvalidArgumentError(`${field}_id`, `is required (or ${field}_name)`);
      const a = id !== "" ? accounts.get(checkAccountId(id, `${field}_id`)) : accounts.getByName(checkAccountName(name, `${field}_name`));
      if (a === undefined) {
        throw new NotFoundError(`account ${id || name} is not in the account directory of ${where(self)}`, { field: id !== "" ? `${field}_id` : `${field}_name` });
      }
      return a;
    },
    /** R17: the operator, or an account another account granted a device here. */
    poolViewer(ctx: AdminContext): void {
      const p = ctx.principal;
      if (p.kind === "operator" && p.actingFor === undefined) return;
      const account = actingAccount(p);
      if (!grants.receivedFromOthers(account)) {
        throw new PermissionDeniedError(
          `R17: account ${account} cannot view the public pool yet: it opens to an account once another account has granted it a device`,
          { field: "authorization", rule: "R17" },
        );
      }
    },
    /** R12: what makes a product or device distributed, when anything does. */
    distribution(p: Product, device?: { placement: string; holder: string }): DistributionRef | undefined {
      if (p.ownerInstanceId !== self || p.receivedFrom !== "") return { how: "received", instanceId: p.receivedFrom || p.ownerInstanceId };
      if (p.candidates.length > 0) return { how: "nearest", instanceId: self };
      const lastJob = jobs.list({ accountId: p.accountId, productKey: p.productKey }, 1, "").items[0];
      const copy = products.copies(p.productKey)[0];
      if (copy !== undefined) return { how: "copy-sent", instanceId: copy.instanceId, ...(lastJob === undefined ? {} : { jobId: lastJob.jobId }) };
      if (lastJob !== undefined && (lastJob.status === "initializing" || lastJob.status === "running")) return { how: "job-active", instanceId: lastJob.targetInstance, jobId: lastJob.jobId };
      if (device?.placement === "leaving") return { how: "device-leaving", instanceId: device.holder };
      if (device?.placement === "away") return { how: "device-away", instanceId: device.holder };
      return undefined;
    },
  };
}
