import { AlreadyExistsError, PreconditionError, RuleViolationError, type IotfedError } from "./errors.js";
import type { Device, JobStatus, Product } from "./entities.js";

/**
 * The ownership rules of distribution as pure functions. `where(id)` names
 * an instance for people, e.g. `cn-hangzhou/iot-hz-1`.
 */
export type DescribeInstance = (instanceId: string) => string;

/** R9: at the receiver a product is read-only (info, topic classes, thing model, script). */
export function assertProductWritable(p: Product, self: string, where: DescribeInstance): void {
  if (p.ownerInstanceId !== self) {
    throw new RuleViolationError(
      "R9",
      `product ${p.productKey} is read-only here: it was received from ${where(p.receivedFrom || p.ownerInstanceId)}; change it at its owner ${where(p.ownerInstanceId)}`,
      { field: "product_key" },
    );
  }
}

/** R9: no device can be created under a received product. */
export function assertCanRegisterUnder(p: Product, self: string, where: DescribeInstance): void {
  if (p.ownerInstanceId !== self) {
    throw new RuleViolationError(
      "R9",
      `no device can be created under product ${p.productKey} here: it was received from ${where(p.receivedFrom || p.ownerInstanceId)}; register devices at ${where(p.ownerInstanceId)}`,
      { field: "product_key" },
    );
  }
}

/**
 * The error for registering a name that a row already holds. R10: at the
 * source, a DeviceName distributed away stays reserved.
 */
export function registrationConflict(existing: Pick<Device, "productKey" | "deviceName" | "placement" | "holder">, field: string, where: DescribeInstance): IotfedError {
  if (existing.placement === "leaving") {
    return new RuleViolationError("R10", `device name ${existing.deviceName} of product ${existing.productKey} is being distributed and stays reserved here`, { field });
  }
  if (existing.placement === "away") {
    return new RuleViolationError(
      "R10",
      `device name ${existing.deviceName} of product ${existing.productKey} was distributed to ${where(existing.holder)} and stays reserved here`,
      { field },
    );
  }
  return new AlreadyExistsError(`${field}: product ${existing.productKey} already has a device named ${existing.deviceName}`, { field });
}

/**
 * R11: a received device cannot be deleted at the target (distribute it
 * back, then delete it at its source); a device distributed away is deleted
 * where it is held.
 */
export function assertDeviceDeletable(d: Device, self: string, where: DescribeInstance): void {
  if (d.placement !== "here") assertHeldHere(d, where);
  if (d.homeInstance !== self) {
    throw new RuleViolationError(
      "R11",
      `device ${d.productKey}/${d.deviceName} was received from ${where(d.receivedFrom || d.homeInstance)} and cannot be deleted here: distribute it back to ${where(d.homeInstance)}, then delete it there`,
      { field: "device_name" },
    );
  }
}

/** Changes to a device's state happen only where it is held. */
export function assertHeldHere(d: Device, where: DescribeInstance): void {
  if (d.placement === "away") {
    throw new PreconditionError(`device ${d.productKey}/${d.deviceName} is held by ${where(d.holder)} now: change it there`, { field: "device_name" });
  }
  if (d.placement === "leaving") {
    throw new PreconditionError(`device ${d.productKey}/${d.deviceName} is being distributed: wait for its job to finish`, { field: "device_name" });
  }
}

/** R13: the public OpenAPI's numbers for job states (failed is its "interrupted"). */
export function jobStatusCode(s: JobStatus): number {
  // `aborted` is beyond the seed: the next number, the others unchanged.
  return { initializing: 0, running: 1, completed: 2, failed: 3, aborted: 4 }[s];
}

/** R6: a completed job cannot be cancelled or retried; only a failed one is retried. */
/** R6, R13: a completed job cannot be cancelled; an aborted one is over already. */
export function assertAbortable(jobId: string, s: JobStatus): void {
  if (s === "completed") {
    throw new RuleViolationError("R6", `job ${jobId} is completed: a completed distribution cannot be cancelled; distribute the devices back instead`, { field: "job_id" });
  }
  if (s === "aborted") throw new PreconditionError(`job ${jobId} is aborted already`, { field: "job_id" });
}

export function assertRetryable(jobId: string, s: JobStatus): void {
  if (s !== "failed") {
    throw new RuleViolationError("R13", `job ${jobId} is ${s}; only a failed job can be retried`, { field: "job_id" });
  }
}
