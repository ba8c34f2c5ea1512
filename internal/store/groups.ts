import { randomBytes } from "node:crypto";
import type { Db } from "./db.js";
import { AlreadyExistsError, InvalidArgumentError, NotFoundError, PreconditionError } from "../domain/index.js";
import { decodePageToken, toPage, type Page } from "./paging.js";

export interface DeviceGroup {
  groupId: string;
  accountId: string;
  groupName: string;
  description: string;
  createdAt: number;
  deviceCount: number;
}

export interface DeviceRef {
  productKey: string;
  deviceName: string;
}

/** Devices in one group at most (the platform's limit for a group is larger; a batch call adds up to 1,000). */
export const MAX_GROUP_DEVICES = 100_000;

const GROUP_NAME_RE = /^[\p{L}\p{N}_-]{4,30}$/u;

/**
 * Device groups (the platform's CreateDeviceGroup etc.): an account's named
 * sets of its devices, local to this instance. A device leaving the
 * instance leaves its groups (R8); deleting a group leaves its devices.
 */
export function createGroupsRepo(db: Db, now: () => number) {
  const insert = db.prepare("INSERT INTO device_groups(group_id, account_id, group_name, description, created_at) VALUES (?, ?, ?, ?, ?)");
  const select = db.prepare<[string, string], { group_id: string; account_id: string; group_name: string; description: string; created_at: number; n: number }>(
    "SELECT g.*, (SELECT count(*) FROM device_group_members m WHERE m.group_id = g.group_id) AS n FROM device_groups g WHERE group_id = ? AND account_id = ?",
  );
  const byName = db.prepare<[string, string], { group_id: string }>("SELECT group_id FROM device_groups WHERE account_id = ? AND group_name = ?");
  const del = db.prepare("DELETE FROM device_groups WHERE group_id = ? AND account_id = ?");
  const list = db.prepare<[string, string, number], { group_id: string; account_id: string; group_name: string; description: string; created_at: number; n: number }>(
    "SELECT g.*, (SELECT count(*) FROM device_group_members m WHERE m.group_id = g.group_id) AS n FROM device_groups g WHERE account_id = ? AND group_name > ? ORDER BY group_name LIMIT ?",
  );
  const addMember = db.prepare("INSERT INTO device_group_members(group_id, product_key, device_name, added_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING");
  const removeMember = db.prepare("DELETE FROM device_group_members WHERE group_id = ? AND product_key = ? AND device_name = ?");
  const count = db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM device_group_members WHERE group_id = ?");
  const members = db.prepare<[string, string, number], { product_key: string; device_name: string }>(
    "SELECT product_key, device_name FROM device_group_members WHERE group_id = ? AND (product_key || char(0) || device_name) > ? ORDER BY product_key, device_name LIMIT ?",
  );
  const groupsOf = db.prepare<[string, string, string], { group_id: string; account_id: string; group_name: string; description: string; created_at: number; n: number }>(
    `SELECT g.*, (SELECT count(*) FROM device_group_members x WHERE x.group_id = g.group_id) AS n
     FROM device_group_members m JOIN device_groups g USING (group_id) WHERE m.product_key = ? AND m.device_name = ? AND g.account_id = ? ORDER BY g.group_name`,
  );

  const toGroup = (r: { group_id: string; account_id: string; group_name: string; description: string; created_at: number; n: number }): DeviceGroup => ({
    groupId: r.group_id,
    accountId: r.account_id,
    groupName: r.group_name,
    description: r.description,
    createdAt: r.created_at,
    deviceCount: r.n,
  });

  const repo = {
    /** CreateDeviceGroup: a name unique in the account, 4-30 letters, digits, _ or -. */
    create(accountId: string, groupName: string, description: string): DeviceGroup {
      if (!GROUP_NAME_RE.test(groupName)) throw new InvalidArgumentError("group_name", "must be 4-30 letters, digits, _ or -");
      if (description.length > 100) throw new InvalidArgumentError("group_desc", "must be at most 100 characters");
      return db.transaction(() => {
        if (byName.get(accountId, groupName) !== undefined) throw new AlreadyExistsError(`group ${groupName} already exists in this account`, { field: "group_name" });
        const id = randomBytes(8).toString("hex");
        insert.run(id, accountId, groupName, description, now());
        return repo.require(accountId, id);
      })();
    },
    require(accountId: string, groupId: string): DeviceGroup {
      const r = select.get(groupId, accountId);
      if (r === undefined) throw new NotFoundError(`group ${groupId} does not exist`, { field: "group_id" });
      return toGroup(r);
    },
    /** DeleteDeviceGroup: the group goes, its devices stay. */
    delete(accountId: string, groupId: string): void {
      if (del.run(groupId, accountId).changes === 0) throw new NotFoundError(`group ${groupId} does not exist`, { field: "group_id" });
    },
    /** QueryDeviceGroupList: the account's groups by name. */
    list(accountId: string, size: number, pageToken: string): Page<DeviceGroup> {
      const after = decodePageToken(pageToken) ?? "";
      return toPage(list.all(accountId, after, size + 1).map(toGroup), size, (g) => g.groupName);
    },
    /** BatchAddDeviceGroupRelations (the caller checked each device is the account's and held here). Returns how many were new. */
    addDevices(accountId: string, groupId: string, devices: readonly DeviceRef[]): number {
      return db.transaction(() => {
        repo.require(accountId, groupId);
        let added = 0;
        const t = now();
        for (const d of devices) added += addMember.run(groupId, d.productKey, d.deviceName, t).changes;
        if (count.get(groupId)!.n > MAX_GROUP_DEVICES) throw new PreconditionError(`group ${groupId} would hold more than ${MAX_GROUP_DEVICES} devices`, { field: "devices" });
        return added;
      })();
    },
    /** BatchDeleteDeviceGroupRelations. Returns how many were in the group. */
    removeDevices(accountId: string, groupId: string, devices: readonly DeviceRef[]): number {
      return db.transaction(() => {
        repo.require(accountId, groupId);
        let removed = 0;
        for (const d of devices) removed += removeMember.run(groupId, d.productKey, d.deviceName).changes;
        return removed;
      })();
    },
    /** QueryDeviceListByDeviceGroup. */
    devices(accountId: string, groupId: string, size: number, pageToken: string): Page<DeviceRef> {
      repo.require(accountId, groupId);
      const after = decodePageToken(pageToken) ?? "";
      return toPage(
        members.all(groupId, after, size + 1).map((r) => ({ productKey: r.product_key, deviceName: r.device_name })),
        size,
        (d) => `${d.productKey}\0${d.deviceName}`,
      );
    },
    /** QueryDeviceGroupByDevice: the account's groups the device is in. */
    groupsOf(accountId: string, productKey: string, deviceName: string): DeviceGroup[] {
      return groupsOf.all(productKey, deviceName, accountId).map(toGroup);
    },
  };
  return repo;
}

export type GroupsRepo = ReturnType<typeof createGroupsRepo>;
