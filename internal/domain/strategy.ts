import { InvalidArgumentError, PreconditionError, RuleViolationError } from "./errors.js";
import type { DescribeInstance } from "./ownership.js";
import type { Product } from "./entities.js";

/**
 * How a job places devices: `specified` (one named region+instance, R2),
 * `nearest` (R3: the product goes to every candidate, each device to the
 * candidate nearest to it when it bootstraps) and `placement` (one
 * nearest-strategy device moved at bootstrap).
 */
export type Strategy = "specified" | "nearest" | "placement";

export interface InstanceRef {
  regionId: string;
  instanceId: string;
}

/** An instance a job may name: this one or a configured peer. */
export interface KnownInstance {
  id: string;
  region: string;
}

/** The strategy field of a create request; empty means specified. */
export function parseStrategy(s: string, field = "strategy"): "specified" | "nearest" {
  if (s === "" || s === "specified") return "specified";
  if (s === "nearest") return "nearest";
  throw new InvalidArgumentError(field, `must be specified or nearest, not ${JSON.stringify(s.slice(0, 32))}`);
}

/** R3: a product alone cannot be distributed by the nearest strategy. */
export function assertNotProductOnlyNearest(deviceCount: number): void {
  if (deviceCount === 0) {
    throw new RuleViolationError("R3", "the nearest strategy needs devices: a product alone (product-only distribution) goes by the specified strategy", { field: "strategy" });
  }
}

/** R4: the nearest strategy is same-account only. */
export function assertSameAccountNearest(targetAccountId: string, ownerAccountId: string): void {
  if (targetAccountId !== "" && targetAccountId !== ownerAccountId) {
    throw new RuleViolationError("R4", `the nearest strategy cannot distribute to another account (${targetAccountId}); cross-account distribution names one target instance`, {
      field: "target_account_id",
    });
  }
}

/**
 * The candidate set travels in the product's route record, which only the
 * product's home publishes: a nearest-strategy job starts there.
 */
export function assertNearestAtHome(p: Product, self: string, where: DescribeInstance): void {
  if (p.ownerInstanceId !== self) {
    throw new PreconditionError(
      `the nearest strategy for product ${p.productKey} starts at its home ${where(p.ownerInstanceId)}, which publishes the product's candidate set; this copy was received from ${where(p.receivedFrom || p.ownerInstanceId)}`,
      { field: "strategy" },
    );
  }
}

/**
 * R3: the candidates name known instances, one per region; the source (this
 * instance) may be one of them. Returns the instance ids in request order.
 */
export function checkCandidates(candidates: readonly InstanceRef[], known: readonly KnownInstance[], max = 64): string[] {
  if (candidates.length === 0) throw new InvalidArgumentError("candidates", "must list at least one region+instance for the nearest strategy (R3)");
  if (candidates.length > max) throw new InvalidArgumentError("candidates", `lists ${candidates.length} instances; at most ${max}`);
  const byId = new Map(known.map((k) => [k.id, k]));
  const regions = new Map<string, number>();
  const ids = new Set<string>();
  return candidates.map((c, i) => {
    const f = `candidates[${i}]`;
    if (c.instanceId === "") throw new InvalidArgumentError(`${f}.instance_id`, "is required");
    if (c.regionId === "") throw new InvalidArgumentError(`${f}.region_id`, "is required");
    const k = byId.get(c.instanceId);
    if (k === undefined) throw new InvalidArgumentError(`${f}.instance_id`, `${c.instanceId} is neither this instance nor a configured peer`);
    if (k.region !== c.regionId) throw new InvalidArgumentError(`${f}.region_id`, `instance ${c.instanceId} is in region ${k.region}, not ${c.regionId}`);
    if (ids.has(c.instanceId)) throw new InvalidArgumentError(`${f}.instance_id`, `${c.instanceId} is listed twice`);
    const prior = regions.get(c.regionId);
    if (prior !== undefined) {
      throw new InvalidArgumentError(`${f}.region_id`, `region ${c.regionId} is listed twice (also candidates[${prior}]): the nearest strategy takes one instance per region (R3)`);
    }
    regions.set(c.regionId, i);
    ids.add(c.instanceId);
    return c.instanceId;
  });
}
