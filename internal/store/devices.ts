import type { Statement } from "better-sqlite3";
import type { Db } from "./db.js";
import { isUniqueViolation } from "./db.js";
import {
  AlreadyExistsError,
  MAX_TAGS_PER_DEVICE,
  NotFoundError,
  ResourceExhaustedError,
  isIotfedError,
  newDeviceSecret,
  newIotId,
  type ConnState,
  type Device,
  type DeviceStatus,
  type IotfedError,
  type Placement,
  type DescribeInstance,
  registrationConflict,
} from "../domain/index.js";
import type { Sealer } from "../security/index.js";
import type { StoreHub } from "./events.js";
import { toPage, decodePageToken, type Page } from "./paging.js";
import { createDevicePlacement, secretAad } from "./device-placement.js";


interface DeviceRow {
  product_key: string;
  device_name: string;
  iot_id: string;
  nickname: string;
  state: ConnState;
  disabled: number;
  created_at: number;
  activated_at: number;
  last_online_at: number;
  placement: Placement;
  holder: string;
  generation: number;
  home_instance: string;
  received_from: string;
  arriving_job: string | null;
}

export const DEVICE_COLUMNS =
  "product_key, device_name, iot_id, nickname, state, disabled, created_at, activated_at, last_online_at, placement, holder, generation, home_instance, received_from, arriving_job";

export const toDevice = (r: DeviceRow): Device => ({
  productKey: r.product_key,
  deviceName: r.device_name,
  iotId: r.iot_id,
  nickname: r.nickname,
  state: r.state,
  disabled: r.disabled !== 0,
  createdAt: r.created_at,
  activatedAt: r.activated_at,
  lastOnlineAt: r.last_online_at,
  placement: r.placement,
  holder: r.holder,
  generation: r.generation,
  homeInstance: r.home_instance,
  receivedFrom: r.received_from,
  arriving: r.arriving_job !== null,
});
export type { DeviceRow };

export interface NewDevice {
  deviceName: string;
  nickname: string;
}

export type RegisterResult =
  | { ok: true; device: Device; secret: string }
  | { ok: false; deviceName: string; error: IotfedError };

export interface DeviceFilter {
  status?: DeviceStatus;
  namePrefix?: string;
}

export type DevicesRepo = ReturnType<typeof createDevicesRepo>;


export interface DevicesRepoOptions {
  db: Db;
  sealer: Sealer;
  hub: StoreHub;
  /** This instance's id. */
  self: string;
  where: DescribeInstance;
  now?: () => number;
}

export function createDevicesRepo(opts: DevicesRepoOptions) {
  const { db, sealer, hub, self, where } = opts;
  const now = opts.now ?? Date.now;
  const insert = db.prepare(
    // A name that was distributed before (its device since deleted) starts at
    // the generation its route reached, so its next move outranks that route.
    `INSERT INTO devices(product_key, device_name, iot_id, secret_sealed, nickname, state, created_at, holder, home_instance, generation)
     VALUES (?, ?, ?, ?, ?, 'inactive', ?, ?, ?,
       coalesce((SELECT generation FROM device_routes r WHERE r.product_key = ? AND r.device_name = ?), 0))`,
  );
  const select = db.prepare<[string, string], DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE product_key = ? AND device_name = ?`);
  const selectByIotId = db.prepare<[string], DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE iot_id = ?`);
  const selectSecret = db.prepare<[string, string], { secret_sealed: Buffer }>(
    "SELECT secret_sealed FROM devices WHERE product_key = ? AND device_name = ?",
  );
  const del = db.prepare("DELETE FROM devices WHERE product_key = ? AND device_name = ?");
  const setDisabled = db.prepare("UPDATE devices SET disabled = ? WHERE product_key = ? AND device_name = ?");
  const selectTags = db.prepare<[string, string], { tag_key: string; tag_value: string }>(
    "SELECT tag_key, tag_value FROM device_tags WHERE product_key = ? AND device_name = ? ORDER BY tag_key",
  );
  const upsertTag = db.prepare(
    "INSERT INTO device_tags(product_key, device_name, tag_key, tag_value) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET tag_value = excluded.tag_value",
  );
  const deleteTag = db.prepare("DELETE FROM device_tags WHERE product_key = ? AND device_name = ? AND tag_key = ?");
  const countTags = db.prepare<[string, string], { n: number }>("SELECT count(*) AS n FROM device_tags WHERE product_key = ? AND device_name = ?");
  const routeRows = db.prepare<[], { product_key: string; device_name: string; disabled: number; holder: string }>(
    // A device whose replicated route is newer (it moved on since it left
    // here) is answered from that route, loaded separately; so is one still
    // arriving (its source holds it until it confirms the release).
    `SELECT d.product_key, d.device_name, d.disabled, d.holder FROM devices d
     LEFT JOIN device_routes r ON r.product_key = d.product_key AND r.device_name = d.device_name
     WHERE d.arriving_job IS NULL AND (r.generation IS NULL OR d.generation >= r.generation)`,
  );
  const countAll = db.prepare<[], { n: number }>("SELECT count(*) AS n FROM devices");
  const setOnline = db.prepare(
    "UPDATE devices SET state = 'online', activated_at = CASE activated_at WHEN 0 THEN @t ELSE activated_at END WHERE product_key = @pk AND device_name = @dn AND placement IN ('here', 'leaving') AND arriving_job IS NULL",
  );
  const setOffline = db.prepare("UPDATE devices SET state = 'offline', last_online_at = @t WHERE product_key = @pk AND device_name = @dn AND state = 'online'");
  const setNotifySent = db.prepare("UPDATE devices SET notify_sent_at = ? WHERE product_key = ? AND device_name = ?");
  const setNotifyReplied = db.prepare("UPDATE devices SET notify_replied_at = ? WHERE product_key = ? AND device_name = ? AND notify_sent_at > 0");
  const selectNotify = db.prepare<[string, string], { notify_sent_at: number; notify_replied_at: number }>("SELECT notify_sent_at, notify_replied_at FROM devices WHERE product_key = ? AND device_name = ?");
  const selectShadow = db.prepare<[string, string], { shadow: string | null; shadow_version: number }>(
    "SELECT shadow, shadow_version FROM devices WHERE product_key = ? AND device_name = ?",
  );
  const clearShadow = db.prepare("UPDATE devices SET shadow = NULL, shadow_version = shadow_version + 1 WHERE product_key = ? AND device_name = ?");
  const putShadow = db.prepare("UPDATE devices SET shadow = ?, shadow_version = max(shadow_version + 1, ?) WHERE product_key = ? AND device_name = ?");
  const updateShadow = db.prepare("UPDATE devices SET shadow = ?, shadow_version = shadow_version + 1 WHERE product_key = ? AND device_name = ?");
  const listAway = db.prepare<[string, string, string, string, number], DeviceRow>(
    `SELECT ${DEVICE_COLUMNS} FROM devices WHERE product_key = ? AND placement = 'away' AND device_name > ? AND (? = '' OR holder = ?) ORDER BY device_name LIMIT ?`,
  );
  const countByStatus = db.prepare<[], { status: DeviceStatus; n: number }>(
    "SELECT CASE WHEN disabled THEN 'disabled' ELSE state END AS status, count(*) AS n FROM devices GROUP BY 1",
  );

  /** One prepared statement per filter combination (at most six). */
  const listStatements = new Map<string, Statement<(string | number)[], DeviceRow>>();

  const selectGeneration = db.prepare<[string, string], { generation: number }>("SELECT generation FROM devices WHERE product_key = ? AND device_name = ?");
  const insertOne = (productKey: string, d: NewDevice, t: number, field: string): { device: Device; secret: string } => {
    const secret = newDeviceSecret();
    const iotId = newIotId();
    try {
      insert.run(productKey, d.deviceName, iotId, sealer.seal(secret, secretAad(productKey, d.deviceName)), d.nickname, t, self, self, productKey, d.deviceName);
    } catch (e) {
      if (isUniqueViolation(e)) {
        const existing = select.get(productKey, d.deviceName);
        if (existing !== undefined) throw registrationConflict(toDevice(existing), field, where);
        throw new AlreadyExistsError(`${field}: the generated device id collided; try again`, { field });
      }
      throw e;
    }
    const device: Device = {
      productKey,
      deviceName: d.deviceName,
      iotId,
      nickname: d.nickname,
      state: "inactive",
      disabled: false,
      createdAt: t,
      activatedAt: 0,
      lastOnlineAt: 0,
      placement: "here",
      holder: self,
      generation: selectGeneration.get(productKey, d.deviceName)!.generation,
      homeInstance: self,
      receivedFrom: "",
      arriving: false,
    };
    return { device, secret };
  };

  return {
    // Where the device is: the handoff's transitions (device-placement.ts).
    ...createDevicePlacement(db, sealer, self),
    register(productKey: string, d: NewDevice): { device: Device; secret: string } {
      const out = db.transaction(() => insertOne(productKey, d, now(), "device_name"))();
      hub.emit("device.changed", { productKey, deviceName: d.deviceName, holder: self, disabled: false });
      return out;
    },
    /**
     * Registers a batch in one transaction with a result per device:
     * `precheck` refuses single devices (bad name, rule) without stopping the others.
     */
    registerBatch(productKey: string, list: NewDevice[], precheck: (d: NewDevice, index: number) => void): RegisterResult[] {
      const t = now();
      const seen = new Set<string>();
      const results = db.transaction(() =>
        list.map((d, i): RegisterResult => {
          try {
            precheck(d, i);
            if (seen.has(d.deviceName)) {
              throw new AlreadyExistsError(`device_names[${i}]: ${d.deviceName} appears twice in this batch`, { field: `device_names[${i}]` });
            }
            seen.add(d.deviceName);
            return { ok: true, ...insertOne(productKey, d, t, `device_names[${i}]`) };
          } catch (e) {
            if (!isIotfedError(e)) throw e;
            return { ok: false, deviceName: d.deviceName, error: e };
          }
        }),
      )();
      for (const r of results) if (r.ok) hub.emit("device.changed", { productKey, deviceName: r.device.deviceName, holder: self, disabled: false });
      return results;
    },
    get(productKey: string, deviceName: string): Device | undefined {
      const r = select.get(productKey, deviceName);
      return r === undefined ? undefined : toDevice(r);
    },
    getByIotId(iotId: string): Device | undefined {
      const r = selectByIotId.get(iotId);
      return r === undefined ? undefined : toDevice(r);
    },
    require(productKey: string, deviceName: string): Device {
      const d = this.get(productKey, deviceName);
      if (d === undefined) throw new NotFoundError(`device ${productKey}/${deviceName} does not exist`, { field: "device_name" });
      return d;
    },
    /** Opens the sealed DeviceSecret. Callers check that the caller owns the device. */
    secret(productKey: string, deviceName: string): string {
      const r = selectSecret.get(productKey, deviceName);
      if (r === undefined) throw new NotFoundError(`device ${productKey}/${deviceName} does not exist`, { field: "device_name" });
      return sealer.open(r.secret_sealed, secretAad(productKey, deviceName));
    },
    list(productKey: string, size: number, pageToken: string, filter: DeviceFilter): Page<Device> {
      const after = decodePageToken(pageToken) ?? "";
      const where = ["product_key = ?", "device_name > ?"];
      const args: (string | number)[] = [productKey, after];
      if (filter.namePrefix !== undefined && filter.namePrefix !== "") {
        // Range scan on the primary key instead of LIKE (names may hold `_`).
        where.push("device_name >= ? AND device_name < ?");
        args.push(filter.namePrefix, filter.namePrefix + "\u{10ffff}");
      }
      if (filter.status === "disabled") where.push("disabled = 1");
      else if (filter.status !== undefined) {
        where.push("disabled = 0 AND state = ?");
        args.push(filter.status);
      }
      args.push(size + 1);
      const sql = `SELECT ${DEVICE_COLUMNS} FROM devices WHERE ${where.join(" AND ")} ORDER BY device_name LIMIT ?`;
      let stmt = listStatements.get(sql);
      if (stmt === undefined) listStatements.set(sql, (stmt = db.prepare<(string | number)[], DeviceRow>(sql)));
      const rows = stmt.all(...args);
      return toPage(rows.map(toDevice), size, (d) => d.deviceName);
    },
    delete(productKey: string, deviceName: string): void {
      const n = del.run(productKey, deviceName).changes;
      if (n === 0) throw new NotFoundError(`device ${productKey}/${deviceName} does not exist`, { field: "device_name" });
      hub.emit("device.deleted", { productKey, deviceName });
    },
    setDisabled(productKey: string, deviceName: string, disabled: boolean): void {
      const n = setDisabled.run(disabled ? 1 : 0, productKey, deviceName).changes;
      if (n === 0) throw new NotFoundError(`device ${productKey}/${deviceName} does not exist`, { field: "device_name" });
      hub.emit("device.changed", { productKey, deviceName, holder: self, disabled });
    },
    tags(productKey: string, deviceName: string): { key: string; value: string }[] {
      return selectTags.all(productKey, deviceName).map((r) => ({ key: r.tag_key, value: r.tag_value }));
    },
    saveTags(productKey: string, deviceName: string, tags: { key: string; value: string }[]): void {
      db.transaction(() => {
        for (const t of tags) upsertTag.run(productKey, deviceName, t.key, t.value);
        const n = countTags.get(productKey, deviceName)!.n;
        if (n > MAX_TAGS_PER_DEVICE) {
          throw new ResourceExhaustedError(`props: a device holds at most ${MAX_TAGS_PER_DEVICE} tags; this would make ${n}`, { field: "props" });
        }
      })();
    },
    deleteTag(productKey: string, deviceName: string, key: string): void {
      const n = deleteTag.run(productKey, deviceName, key).changes;
      if (n === 0) throw new NotFoundError(`device ${productKey}/${deviceName} has no tag ${key}`, { field: "key" });
    },
    /** Streams every device known here for the route table at start, unless its replicated route is newer. */
    *routeEntries(): IterableIterator<{ productKey: string; deviceName: string; disabled: boolean; holder: string }> {
      for (const r of routeRows.iterate()) yield { productKey: r.product_key, deviceName: r.device_name, disabled: r.disabled !== 0, holder: r.holder };
    },
    shadow(productKey: string, deviceName: string): { json: string; version: number } {
      const r = selectShadow.get(productKey, deviceName);
      if (r === undefined) throw new NotFoundError(`device ${productKey}/${deviceName} does not exist`, { field: "device_name" });
      return { json: r.shadow ?? "{}", version: r.shadow_version };
    },
    /** runtime_data: migrate — the shadow left with the device (call in the job's transaction). */
    clearShadow(productKey: string, deviceName: string): void {
      clearShadow.run(productKey, deviceName);
    },
    /** runtime_data: migrate — the shadow a device brought replaces the one kept here (call in the handoff's transaction). */
    putShadow(productKey: string, deviceName: string, json: string, version: number): void {
      putShadow.run(json, version, productKey, deviceName);
    },
    setShadow(productKey: string, deviceName: string, json: string): number {
      return db.transaction(() => {
        updateShadow.run(json, productKey, deviceName);
        return this.shadow(productKey, deviceName).version;
      })();
    },
    /** Devices of a product distributed away from here. */
    listAway(productKey: string, size: number, pageToken: string, holder: string): Page<Device> {
      const after = decodePageToken(pageToken) ?? "";
      return toPage(listAway.all(productKey, after, holder, holder, size + 1).map(toDevice), size, (d) => d.deviceName);
    },
    /**
     * A device signed in over MQTT here: it is online; its first connection
     * activates it (R8: a distributed device is inactive until then).
     * Returns false when it is not held here.
     */
    connected(productKey: string, deviceName: string, t: number): boolean {
      return setOnline.run({ pk: productKey, dn: deviceName, t }).changes === 1;
    },
    /** The device's MQTT connection closed: offline, last online now. */
    disconnected(productKey: string, deviceName: string, t: number): void {
      setOffline.run({ pk: productKey, dn: deviceName, t });
    },
    /** R7: the bootstrap notify was sent to the moved device. */
    notifySent(productKey: string, deviceName: string, t: number): void {
      setNotifySent.run(t, productKey, deviceName);
    },
    /** R7: the device answered the notify (`…/thing/bootstrap/notify_reply`). */
    notifyReplied(productKey: string, deviceName: string, t: number): void {
      setNotifyReplied.run(t, productKey, deviceName);
    },
    notifyState(productKey: string, deviceName: string): { sentAt: number; repliedAt: number } | undefined {
      const r = selectNotify.get(productKey, deviceName);
      return r === undefined ? undefined : { sentAt: r.notify_sent_at, repliedAt: r.notify_replied_at };
    },
    countAll(): number {
      return countAll.get()!.n;
    },
    countByStatus(): Map<DeviceStatus, number> {
      return new Map(countByStatus.all().map((r) => [r.status, r.n]));
    },
  };
}
