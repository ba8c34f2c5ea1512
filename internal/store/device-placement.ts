import type { Db } from "./db.js";
import type { Sealer } from "../security/index.js";
import type { DeviceCertificate, Placement } from "../domain/index.js";

/** AAD binding a sealed secret to its device row. */
export const secretAad = (productKey: string, deviceName: string): string => `${productKey}/${deviceName}`;

/** What a device that left cleared behind it (R8): counts, and the gateway it was a sub-device of. */
export interface LeftBehind {
  tags: number;
  groups: number;
  subDevices: number;
  gateway: string | undefined;
}

/** The job's per-device note of what was cleared: "tags, 2 groups and topology with 12 sub-devices cleared". */
export function leftBehindNote(l: LeftBehind): string {
  const parts: string[] = [];
  if (l.tags > 0) parts.push(`${l.tags} ${l.tags === 1 ? "tag" : "tags"}`);
  if (l.groups > 0) parts.push(`${l.groups} ${l.groups === 1 ? "group" : "groups"}`);
  if (l.subDevices > 0) parts.push(`topology with ${l.subDevices} ${l.subDevices === 1 ? "sub-device" : "sub-devices"} (they stay here, without their gateway)`);
  if (l.gateway !== undefined) parts.push(`topology under gateway ${l.gateway}`);
  if (parts.length === 0) return "";
  const last = parts.pop()!;
  return `R8: ${parts.length === 0 ? last : `${parts.join(", ")} and ${last}`} cleared`;
}

/** What a job or a handoff needs to know of a device row. */
export interface PlacementRow {
  placement: Placement;
  generation: number;
  /** The job the device is leaving in, when it is leaving. */
  leavingJob: string | null;
  /** The job that brought it here, until its source confirms the release (it does not sign in here until then). */
  arrivingJob: string | null;
  holder: string;
  disabled: boolean;
}

/**
 * Where a device is (ARCHITECTURE.md "Ownership: one holder per device"):
 * the transitions of a device row's placement and generation that the
 * handoff makes, at the source (here → leaving → away, or back to here)
 * and at the target (received, or back again). Every call runs inside the
 * caller's transaction (jobs.ts, handoff.ts); together with devices.ts
 * this is the only code that writes the devices table.
 */
export function createDevicePlacement(db: Db, sealer: Sealer, self: string) {
  const select = db.prepare<[string, string], { placement: Placement; generation: number; leaving_job: string | null; arriving_job: string | null; holder: string; disabled: number }>(
    "SELECT placement, generation, leaving_job, arriving_job, holder, disabled FROM devices WHERE product_key = ? AND device_name = ?",
  );
  const markLeaving = db.prepare("UPDATE devices SET placement = 'leaving', leaving_job = ? WHERE product_key = ? AND device_name = ? AND placement = 'here'");
  const setGeneration = db.prepare("UPDATE devices SET generation = ? WHERE product_key = ? AND device_name = ? AND placement = 'here'");
  const moveAway = db.prepare("UPDATE devices SET placement = 'away', holder = ?, generation = ?, leaving_job = NULL WHERE product_key = ? AND device_name = ? AND leaving_job = ?");
  const stayHere = db.prepare("UPDATE devices SET placement = 'here', leaving_job = NULL WHERE product_key = ? AND device_name = ? AND leaving_job = ?");
  const returnAt = db.prepare("UPDATE devices SET placement = 'here', leaving_job = NULL, generation = ? WHERE product_key = ? AND device_name = ? AND leaving_job = ?");
  const confirmArrival = db.prepare<[string, string, string, number, string], { disabled: number }>(
    "UPDATE devices SET arriving_job = NULL WHERE product_key = ? AND device_name = ? AND arriving_job = ? AND generation = ? AND received_from = ? RETURNING disabled",
  );
  const markAwayByRoute = db.prepare("UPDATE devices SET placement = 'away', holder = ?, generation = ?, leaving_job = NULL WHERE product_key = ? AND device_name = ? AND placement = 'here'");
  const markHereByRoute = db.prepare("UPDATE devices SET placement = 'here', holder = ?, generation = ? WHERE product_key = ? AND device_name = ? AND placement = 'away'");
  // R8: tags, groups and topology are cleared when a device leaves.
  const clearTags = db.prepare("DELETE FROM device_tags WHERE product_key = ? AND device_name = ?");
  const clearGroups = db.prepare("DELETE FROM device_group_members WHERE product_key = ? AND device_name = ?");
  const clearSubDevices = db.prepare("DELETE FROM device_topology WHERE gateway_product_key = ? AND gateway_device_name = ?");
  const clearGateway = db.prepare<[string, string], { gateway_product_key: string; gateway_device_name: string }>(
    "DELETE FROM device_topology WHERE sub_product_key = ? AND sub_device_name = ? RETURNING gateway_product_key, gateway_device_name",
  );
  /** R8 at the source: what a leaving device leaves behind cleared, and what that was. */
  const clearOnLeaving = (productKey: string, deviceName: string): LeftBehind => {
    const tags = clearTags.run(productKey, deviceName).changes;
    const groups = clearGroups.run(productKey, deviceName).changes;
    const subDevices = clearSubDevices.run(productKey, deviceName).changes;
    const gw = clearGateway.get(productKey, deviceName);
    return { tags, groups, subDevices, gateway: gw === undefined ? undefined : `${gw.gateway_product_key}/${gw.gateway_device_name}` };
  };
  const insertReceived = db.prepare(
    `INSERT INTO devices(product_key, device_name, iot_id, secret_sealed, nickname, state, created_at, placement, holder, generation, home_instance, received_from, arriving_job)
     VALUES (?, ?, ?, ?, ?, 'inactive', ?, 'here', ?, ?, ?, ?, ?)`,
  );
  // A device coming back finds its runtime data (R8), and is inactive until
  // it connects again (its next connection activates it anew).
  const reactivate = db.prepare(
    `UPDATE devices SET placement = 'here', holder = ?, generation = ?, received_from = ?, secret_sealed = ?, leaving_job = NULL, arriving_job = ?,
       state = 'inactive', activated_at = 0
     WHERE product_key = ? AND device_name = ?`,
  );
  const selectCertificate = db.prepare<[string, string], { iot_id: string; nickname: string; created_at: number; home_instance: string; secret_sealed: Buffer }>(
    "SELECT iot_id, nickname, created_at, home_instance, secret_sealed FROM devices WHERE product_key = ? AND device_name = ?",
  );
  const countOfProduct = db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM devices WHERE product_key = ?");

  return {
    placementOf(productKey: string, deviceName: string): PlacementRow | undefined {
      const r = select.get(productKey, deviceName);
      return r === undefined
        ? undefined
        : { placement: r.placement, generation: r.generation, leavingJob: r.leaving_job, arrivingJob: r.arriving_job, holder: r.holder, disabled: r.disabled !== 0 };
    },
    /** Source, step 1: a device held here leaves in `jobId`; it still works here until the target accepts it. */
    markLeaving(productKey: string, deviceName: string, jobId: string): void {
      markLeaving.run(jobId, productKey, deviceName);
    },
    /** R3: a nearest-placed device stays here at a new generation (its route outranks the old one). */
    setGeneration(productKey: string, deviceName: string, generation: number): void {
      setGeneration.run(generation, productKey, deviceName);
    },
    /**
     * Source, step 4, accepted: the device leaving in `jobId` is away at
     * `holder` (its name stays reserved, R10; runtime data stays, tags are
     * cleared, R8). False when it was not leaving in that job.
     */
    moveAway(productKey: string, deviceName: string, jobId: string, holder: string, generation: number): LeftBehind | undefined {
      if (moveAway.run(holder, generation, productKey, deviceName, jobId).changes !== 1) return undefined;
      return clearOnLeaving(productKey, deviceName);
    },
    /** Source, step 4, refused (or its job aborted): the device leaving in `jobId` is held here again at its old generation. */
    stayHere(productKey: string, deviceName: string, jobId: string): void {
      stayHere.run(productKey, deviceName, jobId);
    },
    /**
     * A forced abort (R13): the device leaving in `jobId` is held here again
     * at `generation`, above the one its job carried, so that a late batch
     * at the target loses to it. True when it was leaving in that job.
     */
    returnAt(productKey: string, deviceName: string, jobId: string, generation: number): boolean {
      return returnAt.run(generation, productKey, deviceName, jobId).changes === 1;
    },
    /**
     * Target, step 3: a certificate at a new generation becomes a device
     * held here, `inactive` until it connects (R8); a device that was here
     * before comes back to its kept runtime data. It is arriving in `jobId`:
     * it signs in here only once the source confirms the release
     * (confirmArrival). Call after checking placementOf (not held here,
     * older generation); `known` says whether it found a row.
     */
    receive(productKey: string, cert: DeviceCertificate, source: string, jobId: string, known: boolean): void {
      const sealed = sealer.seal(cert.deviceSecret, secretAad(productKey, cert.deviceName));
      if (!known) {
        insertReceived.run(productKey, cert.deviceName, cert.iotId, sealed, cert.nickname, cert.createdAt, self, cert.generation, cert.homeInstance, source, jobId);
      } else {
        reactivate.run(self, cert.generation, source, sealed, jobId, productKey, cert.deviceName);
      }
    },
    /**
     * Target, step 5: `source` released the device; it signs in here from
     * now on. Only the instance it came from, for the job and generation it
     * came with, can release it. Returns whether it is disabled, or
     * undefined when it was not arriving so.
     */
    confirmArrival(productKey: string, deviceName: string, jobId: string, generation: number, source: string): { disabled: boolean } | undefined {
      const r = confirmArrival.get(productKey, deviceName, jobId, generation, source);
      return r === undefined ? undefined : { disabled: r.disabled !== 0 };
    },
    /** What moves with a device (R8): its certificate at `generation`, the secret opened for the peer call only. */
    certificate(productKey: string, deviceName: string, generation: number): DeviceCertificate | undefined {
      const r = selectCertificate.get(productKey, deviceName);
      if (r === undefined) return undefined;
      return {
        deviceName,
        deviceSecret: sealer.open(r.secret_sealed, secretAad(productKey, deviceName)),
        iotId: r.iot_id,
        generation,
        homeInstance: r.home_instance || self,
        nickname: r.nickname,
        createdAt: r.created_at,
      };
    },
    countOfProduct(productKey: string): number {
      return countOfProduct.get(productKey)!.n;
    },
    /**
     * A replicated route newer than this store's row: the device moved while
     * this store did not see it — it was restored from a backup taken
     * before. A row held here whose route now names another holder becomes
     * away (its name stays reserved, R10; tags cleared, R8); an away row
     * whose route names this instance again is held here (the certificate
     * is the one it already has). A leaving row is its job's to settle.
     * Returns what was done: "away", "here", "missing" (the route says this
     * instance holds a device it has no certificate of), or undefined.
     */
    reconcileRoute(productKey: string, deviceName: string, holder: string, generation: number): "away" | "here" | "missing" | undefined {
      return db.transaction((): "away" | "here" | "missing" | undefined => {
        const row = select.get(productKey, deviceName);
        if (row === undefined) return holder === self ? "missing" : undefined;
        if (row.generation >= generation) return undefined;
        if (holder !== self && row.placement === "here") {
          markAwayByRoute.run(holder, generation, productKey, deviceName);
          clearOnLeaving(productKey, deviceName);
          return "away";
        }
        if (holder === self && row.placement === "away") {
          markHereByRoute.run(self, generation, productKey, deviceName);
          return "here";
        }
        return undefined;
      })();
    },
  };
}
