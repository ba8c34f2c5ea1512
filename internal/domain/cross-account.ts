import { randomInt, timingSafeEqual } from "node:crypto";
import { InvalidArgumentError, PermissionDeniedError, RuleViolationError } from "./errors.js";
import { randomString } from "./ids.js";
import type { DescribeInstance } from "./ownership.js";
import type { InstanceKind } from "./entities.js";


/** An instance of the federation as the admin API resolves targets. */
export interface KnownInstanceKind {
  id: string;
  region: string;
  kind: InstanceKind;
}

/** R4: an authorization code is valid five minutes. */
export const AUTH_CODE_TTL_MS = 5 * 60 * 1000;
/** Wrong tries after which a code is void. */
export const AUTH_CODE_MAX_TRIES = 5;
const AUTH_CODE_RE = /^[0-9]{6}$/;

export const newAuthCodeId = (): string => "ac_" + randomString(16);
export const newGrantId = (): string => "gr_" + randomString(16);

/** Six digits from the CSPRNG, leading zeros kept. */
export function newAuthCode(): string {
  return String(randomInt(0, 1_000_000)).padStart(6, "0");
}

/** R4: the code as the caller typed it; six digits. */
export function checkAuthCode(value: string, field = "auth_code"): string {
  if (value === "") throw new InvalidArgumentError(field, "is required for cross-account distribution: the target account receives it (R4)", { rule: "R4" });
  if (!AUTH_CODE_RE.test(value)) throw new InvalidArgumentError(field, "must be the six digits the target account received (R4)", { rule: "R4" });
  return value;
}

/** Compares a presented code with the issued one in constant time. */
export function authCodeMatches(presented: string, issued: string): boolean {
  const a = Buffer.from(presented.padEnd(6, "\0").slice(0, 6), "latin1");
  const b = Buffer.from(issued.padEnd(6, "\0").slice(0, 6), "latin1");
  return timingSafeEqual(a, b) && presented.length === issued.length;
}

/**
 * R4, R5: the target of a cross-account distribution. The instance may be
 * left empty only when the target is its region's legacy public instance;
 * a cross-account move inside one region's legacy public instance is not
 * supported.
 */
export function resolveCrossAccountTarget(
  regionId: string,
  instanceId: string,
  self: KnownInstanceKind,
  peers: readonly KnownInstanceKind[],
): KnownInstanceKind {
  const all = [self, ...peers];
  if (instanceId === "") {
    if (regionId === "") throw new InvalidArgumentError("target_region_id", "is required when target_instance_id is empty (R4)", { rule: "R4" });
    const legacy = all.find((i) => i.region === regionId && i.kind === "legacy-public");
    if (legacy === undefined) {
      throw new RuleViolationError(
        "R4",
        `target_instance_id may be empty only when the target is the legacy public instance of region ${regionId}, and the federation knows none there: name the instance`,
        { field: "target_instance_id" },
      );
    }
    instanceId = legacy.id;
  }
  const target = all.find((i) => i.id === instanceId);
  if (target === undefined) {
    throw new InvalidArgumentError("target_instance_id", `${instanceId} is not a configured peer of ${self.id} (known: ${peers.map((p) => p.id).join(", ") || "none"})`);
  }
  if (regionId !== "" && regionId !== target.region) {
    throw new InvalidArgumentError("target_region_id", `instance ${target.id} is in region ${target.region}, not ${regionId}`);
  }
  if (target.id === self.id) {
    if (self.kind === "legacy-public") {
      throw new RuleViolationError(
        "R5",
        `cross-account distribution inside the legacy public instance ${self.id} of region ${self.region} is not supported; grant the devices instead (R14-R18)`,
        { field: "target_instance_id" },
      );
    }
    throw new InvalidArgumentError("target_instance_id", `${target.id} is this instance; distribute to another one`);
  }
  return target;
}

/** A grant as the rules see it. */
export interface GrantRef {
  grantId: string;
  kind: "product" | "device";
  productKey: string;
  deviceName: string;
  granteeAccountId: string;
}

/** R12: a product or device with a grant cannot be distributed. */
export function assertNoGrants(grants: readonly GrantRef[], productKey: string): void {
  const g = grants.find((x) => x.kind === "device") ?? grants[0];
  if (g === undefined) return;
  const what = g.kind === "device" ? `device ${g.productKey}/${g.deviceName} is granted` : `product ${g.productKey} is granted`;
  throw new RuleViolationError(
    "R12",
    `product ${productKey} cannot be distributed while it has grants: ${what} to account ${g.granteeAccountId} (grant ${g.grantId}); revoke the grants first`,
    { field: "product_key" },
  );
}

/** What stands in the way of granting a distributed product or device (R12). */
export interface DistributionRef {
  /** A job that moved or is moving the product or device, when known. */
  jobId?: string;
  /** Where the product or device went or came from. */
  instanceId: string;
  how: "copy-sent" | "received" | "device-away" | "device-leaving" | "job-active" | "nearest";
}

/** R12: a distributed product or device cannot be granted. */
export function assertNotDistributed(d: DistributionRef | undefined, subject: string, where: DescribeInstance): void {
  if (d === undefined) return;
  const job = d.jobId === undefined || d.jobId === "" ? "" : ` by job ${d.jobId}`;
  const why = {
    "copy-sent": `was distributed to ${where(d.instanceId)}${job}`,
    received: `was received from ${where(d.instanceId)}`,
    "device-away": `was distributed to ${where(d.instanceId)}${job}`,
    "device-leaving": `is being distributed to ${where(d.instanceId)}${job}`,
    "job-active": `is in distribution job ${d.jobId ?? ""} to ${where(d.instanceId)}`,
    nearest: "is distributed by the nearest strategy",
  }[d.how];
  throw new RuleViolationError("R12", `${subject} ${why}: distribution and grants exclude each other`, { field: "product_key" });
}

/** R14: only devices of a published product can be granted. */
export function assertPublishedForGrant(status: string, productKey: string): void {
  if (status !== "published") {
    throw new RuleViolationError("R14", `product ${productKey} is ${status}: only devices of a published product can be granted; release it first`, { field: "product_key" });
  }
}

/** R18: grants exist only on the instances configured for them. */
export function assertGrantsAllowedHere(allowed: boolean, self: KnownInstanceKind, kinds: readonly string[]): void {
  if (!allowed) {
    throw new RuleViolationError(
      "R18",
      `grants are not allowed on ${self.kind} instance ${self.id} (grants.instanceKinds: ${kinds.join(", ") || "none"}); grant at the instance that holds the device`,
      { field: "product_key" },
    );
  }
}

/** R15: a grantee reads; it cannot change, delete, disable, distribute or re-grant. */
export function granteeRefusal(what: string, productKey: string, accountId: string): PermissionDeniedError {
  return new PermissionDeniedError(
    `R15: account ${accountId} was granted product ${productKey}; a grant lets it read the device and use the product, not ${what}`,
    { field: "product_key", rule: "R15" },
  );
}
