import type { DeviceRelease, DeviceRoute, RouteChange } from "../domain/index.js";

/*
 * Who may write what (docs/operating/security.md "Threat model"): a record
 * is applied only when its signer owns the fact it states.
 * - a device route: its holder, with proof that the previous holder
 *   released the device to it (or, at the product's home, none: the device
 *   was registered there);
 * - a product route, and its pool entry: the product's home (which never
 *   changes);
 * - an instance record: that instance;
 * - an account record: the account's home (which never changes).
 */

/** Why a record is not applied; the values label iotfed_replication_refused_total. */
export type Refusal =
  /** No signature, and the federation requires them. */
  | "unsigned"
  /** Signed by an instance or certificate this daemon has no verified instance record of. */
  | "unknown_signer"
  | "bad_signature"
  /** An instance record whose certificates the federation CA did not issue to it. */
  | "bad_certificate"
  /** The signer, or the certificate it used, is on the revocation list. */
  | "revoked"
  /** The signer does not own the fact (see above). */
  | "not_owner"
  /** A device route away from its product's home without a release. */
  | "no_release"
  /** A release that is not the previous holder's, or whose proof does not check. */
  | "bad_release"
  /** A device route that contradicts what this daemon knows of the device's holders. */
  | "contradicts_holder";

export const REFUSALS: readonly Refusal[] = ["unsigned", "unknown_signer", "bad_signature", "bad_certificate", "revoked", "not_owner", "no_release", "bad_release", "contradicts_holder"];

/** What the judge needs to know of this daemon's records. */
export interface OwnershipView {
  self: string;
  /** The holder and generation of the device's route here. */
  device(productKey: string, deviceName: string): { holder: string; generation: number } | undefined;
  /** The product's home: the owner of its copy here, else its route's home; undefined when unknown. */
  productHome(productKey: string): string | undefined;
  /** The home of an account this daemon knows; undefined when unknown. */
  accountHome(accountId: string): string | undefined;
}

/**
 * Checks that `signer` owns what `c` states. `releaseChecked` says whether a
 * device route's release proof verified against its previous holder's key
 * (undefined when the route has none). Signatures are checked before.
 */
export function judge(c: RouteChange, signer: string, releaseChecked: boolean | undefined, view: OwnershipView): Refusal | undefined {
  switch (c.kind) {
    case "instance":
      return signer === c.route.instanceId ? undefined : "not_owner";
    case "account": {
      if (signer !== c.route.home) return "not_owner";
      const home = view.accountHome(c.route.accountId);
      return home === undefined || home === c.route.home ? undefined : "not_owner";
    }
    case "product":
    case "pool": {
      if (signer !== c.route.home) return "not_owner";
      const home = view.productHome(c.route.productKey);
      return home === undefined || home === c.route.home ? undefined : "not_owner";
    }
    case "device":
      return judgeDevice(c.route, signer, releaseChecked, view);
  }
}

/**
 * The peer plane's side of the same rule: `caller` hands a device off from
 * `generation` (one below the generation it sends it at), proven by
 * `acquired` (`releaseChecked` says whether its signature checked). It
 * must hold the device: the route this daemon has says so at that
 * generation, or its proof shows it got the device and nothing this daemon
 * knows says it let it go since. "stale" when the device moved on.
 */
export function judgeHolding(
  productKey: string,
  deviceName: string,
  caller: string,
  generation: number,
  acquired: DeviceRelease | undefined,
  releaseChecked: boolean | undefined,
  view: OwnershipView,
): Refusal | "stale" | undefined {
  const stored = view.device(productKey, deviceName);
  if (stored !== undefined && stored.generation > generation) return "stale";
  if (stored !== undefined && stored.generation === generation) return stored.holder === caller ? undefined : "contradicts_holder";
  return judgeDevice({ productKey, deviceName, holder: caller, generation, nearest: false, release: acquired, committedBy: caller, committedAt: 0 }, caller, releaseChecked, view);
}

function judgeDevice(r: DeviceRoute, signer: string, releaseChecked: boolean | undefined, view: OwnershipView): Refusal | undefined {
  if (signer !== r.holder) return "not_owner";
  const stored = view.device(r.productKey, r.deviceName);
  if (stored !== undefined && stored.generation >= r.generation) return undefined; // older than what is here: not applied anyway
  // The generation from which the holder claims to have held the device without a break.
  let since: number;
  if (r.release === undefined) {
    const home = view.productHome(r.productKey);
    if (home === undefined || home !== r.holder) return "no_release";
    since = 0;
  } else {
    if (r.release.from === r.holder || r.release.generation > r.generation || r.release.generation < 1) return "bad_release";
    if (releaseChecked !== true) return "bad_release";
    since = r.release.generation;
  }
  if (stored !== undefined) {
    // Someone else held it at a generation the holder claims as its own.
    if (stored.holder !== r.holder && stored.generation >= since) return "contradicts_holder";
    // The generation just before the release: its holder is the one that released.
    if (r.release !== undefined && stored.generation === since - 1 && stored.holder !== r.release.from) return "contradicts_holder";
    // This daemon holds it and has released it to no one.
    if (stored.holder === view.self && r.holder !== view.self && r.release?.from !== view.self) return "contradicts_holder";
  }
  return undefined;
}
