import { InvalidArgumentError } from "./errors.js";

/** R1: a job or CSV list moves at most this many devices by default; configurable. */
export const DEFAULT_MAX_DEVICES_PER_BATCH = 1000;
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;
export const MAX_TAGS_PER_DEVICE = 100;
export const MAX_SCRIPT_BYTES = 128 * 1024;
export const MAX_TSL_BYTES = 512 * 1024;

/** Batch size check (R1's limit, applied to registration batches as well). */
export function checkBatchSize(count: number, max: number, field: string): void {
  if (count < 1) throw new InvalidArgumentError(field, "must name at least one device");
  if (count > max) {
    throw new InvalidArgumentError(field, `holds ${count} devices; at most ${max} are allowed in one call`, {
      rule: "R1",
    });
  }
}

export function pageSize(requested: number, field = "page_size"): number {
  if (requested < 0) throw new InvalidArgumentError(field, "must not be negative");
  if (requested === 0) return DEFAULT_PAGE_SIZE;
  if (requested > MAX_PAGE_SIZE) throw new InvalidArgumentError(field, `must be at most ${MAX_PAGE_SIZE}`);
  return requested;
}
