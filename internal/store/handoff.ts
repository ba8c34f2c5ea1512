import type { Db } from "./db.js";
import type { RecordsRepo } from "./records.js";
import type { AccountsRepo } from "./accounts.js";
import type { ProductsRepo } from "./products.js";
import type { RuntimeDataRepo } from "./runtime-data.js";
import type { DevicesRepo } from "./devices.js";
import type { StoreHub } from "./events.js";
import {
  PreconditionError,
  type DescribeInstance,
  type DeviceRelease,
  type DeviceCertificate,
  type HandoffOutcome,
  type ProductBundle,
} from "../domain/index.js";

export interface HandoffInput {
  jobId: string;
  sourceInstance: string;
  product: ProductBundle;
  devices: DeviceCertificate[];
  /** True when the devices move by the nearest strategy (R3): their routes stay nearest-placed. */
  nearest?: boolean;
  /**
   * The account that receives the product (R4): the bundle's account for a
   * same-account move; another account of this daemon's directory when the
   * move is cross-account (the caller of apply verified its code).
   */
  targetAccount?: string;
  /**
   * The bundle may bring an existing copy up to its version: false when the
   * caller is neither the product's owner nor the instance the copy came
   * from (it may hand devices over, not rewrite the product).
   */
  updateCopy?: boolean;
}

export type HandoffApplier = ReturnType<typeof createHandoffApplier>;

/**
 * The receiver's side of the handoff (ARCHITECTURE.md "The handoff", step 3):
 * in one transaction, upsert the read-only product copy, insert or
 * reactivate each device at its new generation as `inactive` (a device that
 * comes back finds its kept runtime data, R8), and record every
 * (job, device, generation) answered, so that the same handoff again returns
 * the stored outcome and changes nothing.
 */
export function createHandoffApplier(opts: {
  db: Db;
  self: string;
  where: DescribeInstance;
  hub: StoreHub;
  /** The product copies (the only writer of the products table with products.ts). */
  products: Pick<ProductsRepo, "get" | "applyCopy">;
  records: RecordsRepo;
  accounts: AccountsRepo;
  /** The devices' placement (the only writer of the devices table). */
  devices: DevicesRepo;
  /** Runtime data a migrating device brings. */
  runtime: Pick<RuntimeDataRepo, "putLatest">;
  now?: () => number;
}) {
  const { db, self, where } = opts;
  const now = opts.now ?? Date.now;
  const selectApplied = db.prepare<[string, string, string, number], { accepted: number; error_code: string; error_message: string }>(
    "SELECT accepted, error_code, error_message FROM handoffs_applied WHERE job_id = ? AND product_key = ? AND device_name = ? AND generation = ?",
  );
  const selectAppliedFrom = db.prepare<[string, string, string, number], { source_instance: string }>(
    "SELECT source_instance FROM handoffs_applied WHERE job_id = ? AND product_key = ? AND device_name = ? AND generation = ?",
  );
  const insertApplied = db.prepare(
    "INSERT INTO handoffs_applied(job_id, product_key, device_name, generation, source_instance, accepted, error_code, error_message, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );

  /** Applies the product bundle; returns true when this copy changed. */
  const applyProduct = (b: ProductBundle, source: string, t: number, receiving: string, updateCopy = true): boolean => {
    if (receiving === b.accountId) opts.accounts.knowOwner(b.accountId, b.accountName, source, t);
    else if (opts.accounts.get(receiving) === undefined) {
      throw new PreconditionError(`account ${receiving} is not in the account directory of ${where(self)}`, { field: "target_account_id" });
    }
    if (!updateCopy && opts.products.get(b.productKey) !== undefined) return false;
    return opts.products.applyCopy(b, source, t, receiving);
  };

  /** runtime_data: migrate — the latest values and the shadow it brought replace what was kept here. */
  const arrivedWith = (pk: string, d: DeviceCertificate): void => {
    if (d.runtime === undefined) return;
    opts.runtime.putLatest(pk, d.deviceName, d.runtime.properties);
    if (d.runtime.shadow !== undefined) opts.devices.putShadow(pk, d.deviceName, d.runtime.shadow.json, d.runtime.shadow.version);
  };

  const applyDevice = (input: HandoffInput, d: DeviceCertificate, t: number, ownedHere: boolean): HandoffOutcome => {
    const pk = input.product.productKey;
    const prior = selectApplied.get(input.jobId, pk, d.deviceName, d.generation);
    if (prior !== undefined) {
      return { deviceName: d.deviceName, generation: d.generation, accepted: prior.accepted === 1, errorCode: prior.error_code, errorMessage: prior.error_message };
    }
    let outcome: HandoffOutcome;
    const refuse = (code: string, message: string): HandoffOutcome => ({ deviceName: d.deviceName, generation: d.generation, accepted: false, errorCode: code, errorMessage: message });
    const row = opts.devices.placementOf(pk, d.deviceName);
    if (row === undefined && ownedHere) {
      // Every device of a product owned here was registered here: one it never had is not its.
      outcome = refuse("PERMISSION_DENIED", `device ${pk}/${d.deviceName} was never registered at ${where(self)}, which owns product ${pk}: it cannot arrive here`);
    } else if (row === undefined) {
      opts.devices.receive(pk, d, input.sourceInstance, input.jobId, false);
      arrivedWith(pk, d);
      outcome = { deviceName: d.deviceName, generation: d.generation, accepted: true, errorCode: "", errorMessage: "" };
    } else if (row.placement !== "away" && (row.arrivingJob === null || row.generation >= d.generation)) {
      outcome = refuse("FAILED_PRECONDITION", `device ${pk}/${d.deviceName} is already held by ${where(self)} (generation ${row.generation})`);
    } else if (row.generation >= d.generation) {
      outcome = refuse("FAILED_PRECONDITION", `device ${pk}/${d.deviceName} is at generation ${row.generation} here; generation ${d.generation} is stale`);
    } else {
      opts.devices.receive(pk, d, input.sourceInstance, input.jobId, true);
      arrivedWith(pk, d);
      outcome = { deviceName: d.deviceName, generation: d.generation, accepted: true, errorCode: "", errorMessage: "" };
    }
    insertApplied.run(input.jobId, pk, d.deviceName, d.generation, input.sourceInstance, outcome.accepted ? 1 : 0, outcome.errorCode, outcome.errorMessage, t);
    return outcome;
  };

  return {
    /** Applies one handoff; refuses it whole (throws) when the product cannot be taken. */
    apply(input: HandoffInput): { outcomes: HandoffOutcome[]; productVersion: number } {
      const t = now();
      const { outcomes, productChanged } = db.transaction(() => {
        const productChanged = applyProduct(input.product, input.sourceInstance, t, input.targetAccount || input.product.accountId, input.updateCopy);
        const ownedHere = opts.products.get(input.product.productKey)?.ownerInstanceId === self;
        return { outcomes: input.devices.map((d) => applyDevice(input, d, t, ownedHere)), productChanged };
      })();
      const product = opts.products.get(input.product.productKey)!;
      if (productChanged) opts.hub.emit("product.changed", product);
      return { outcomes, productVersion: product.version };
    },
    /**
     * Step 5, one transaction: `source` released these devices (it marked
     * them away and cut their sessions). Each arriving from it in `jobId` at
     * its generation signs in here from now on, and its route is queued for
     * publication: the route flips. A repeat, another caller, or a device no
     * longer arriving so changes nothing. Returns how many were confirmed.
     */
    confirm(
      jobId: string,
      productKey: string,
      source: string,
      devices: readonly { deviceName: string; generation: number }[],
      nearest: boolean,
      /** The source's signed release of each device, in order; its route carries it (docs/operating/security.md). */
      releases?: readonly DeviceRelease[],
    ): number {
      const t = now();
      const confirmed = db.transaction(() => {
        const out: { deviceName: string; disabled: boolean }[] = [];
        for (const [i, d] of devices.entries()) {
          const c = opts.devices.confirmArrival(productKey, d.deviceName, jobId, d.generation, source);
          if (c === undefined) continue;
          const release = releases?.[i];
          opts.records.commit(
            { kind: "device", route: { productKey, deviceName: d.deviceName, holder: self, generation: d.generation, nearest, ...(release === undefined ? {} : { release }), committedBy: self, committedAt: t } },
            true,
          );
          out.push({ deviceName: d.deviceName, disabled: c.disabled });
        }
        return out;
      })();
      for (const d of confirmed) opts.hub.emit("device.changed", { productKey, deviceName: d.deviceName, holder: self, disabled: d.disabled });
      return confirmed.length;
    },
    /** The instance whose handoff of (job, device, generation) was answered here, if any. */
    appliedFrom(jobId: string, productKey: string, deviceName: string, generation: number): string | undefined {
      return selectAppliedFrom.get(jobId, productKey, deviceName, generation)?.source_instance;
    },
    /**
     * Abort, fenced (R13), one transaction: from now on this daemon refuses
     * each (job, device, generation) it has not answered yet — a late batch
     * gets the stored refusal. Returns the devices it had already accepted:
     * they stay moved.
     */
    fence(jobId: string, productKey: string, sourceInstance: string, devices: readonly { deviceName: string; generation: number }[]): string[] {
      const t = now();
      return db.transaction(() => {
        const accepted: string[] = [];
        for (const d of devices) {
          const prior = selectApplied.get(jobId, productKey, d.deviceName, d.generation);
          if (prior?.accepted === 1) accepted.push(d.deviceName);
          else if (prior === undefined) {
            insertApplied.run(jobId, productKey, d.deviceName, d.generation, sourceInstance, 0, "ABORTED", `job ${jobId} was aborted at its source ${where(sourceInstance)}`, t);
          }
        }
        return accepted;
      })();
    },
    /** Brings a read-only copy to the owner's newer version; false when not newer. */
    sync(product: ProductBundle, source: string): { applied: boolean; version: number } {
      const local = opts.products.get(product.productKey);
      if (local === undefined) throw new PreconditionError(`product ${product.productKey} has no copy here`, { field: "product.product_key" });
      const applied = db.transaction(() => applyProduct(product, local.receivedFrom || source, now(), local.accountId))();
      const after = opts.products.get(product.productKey)!;
      if (applied) opts.hub.emit("product.changed", after);
      return { applied, version: after.version };
    },
  };
}
