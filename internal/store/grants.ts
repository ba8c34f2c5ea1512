import type { Db } from "./db.js";
import { NotFoundError, RuleViolationError, newGrantId, type GrantRef } from "../domain/index.js";
import { decodePageToken, toPage, type Page } from "./paging.js";

export interface GrantRecord extends GrantRef {
  grantorAccountId: string;
  createdAt: number;
}

interface Row {
  grant_id: string;
  kind: "product" | "device";
  product_key: string;
  device_name: string;
  grantor_account: string;
  grantee_account: string;
  created_at: number;
}

const toGrant = (r: Row): GrantRecord => ({
  grantId: r.grant_id,
  kind: r.kind,
  productKey: r.product_key,
  deviceName: r.device_name,
  grantorAccountId: r.grantor_account,
  granteeAccountId: r.grantee_account,
  createdAt: r.created_at,
});

export type GrantsRepo = ReturnType<typeof createGrantsRepo>;

/**
 * Device authorization (R14-R18), local to the instance that holds the
 * device (R18). A device grant brings its product grant with it; a product
 * grant goes only after its device grants (R16).
 */
export function createGrantsRepo(db: Db, now: () => number = Date.now) {
  const selectOne = db.prepare<[string, string, string], Row>("SELECT * FROM grants WHERE product_key = ? AND device_name = ? AND grantee_account = ?");
  const selectById = db.prepare<[string], Row>("SELECT * FROM grants WHERE grant_id = ?");
  const insert = db.prepare(
    "INSERT INTO grants(grant_id, kind, product_key, device_name, grantor_account, grantee_account, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
  );
  const remove = db.prepare("DELETE FROM grants WHERE grant_id = ?");
  const ofProduct = db.prepare<[string], Row>("SELECT * FROM grants WHERE product_key = ? ORDER BY kind DESC, grant_id LIMIT 10");
  const deviceGrantsOf = db.prepare<[string, string], Row>(
    "SELECT * FROM grants WHERE product_key = ? AND grantee_account = ? AND kind = 'device' ORDER BY device_name LIMIT 1",
  );
  const granteeDevice = db.prepare<[string, string, string], { n: number }>(
    "SELECT count(*) AS n FROM grants WHERE product_key = ? AND device_name = ? AND grantee_account = ? AND kind = 'device'",
  );
  const granteesOfDevice = db.prepare<[string, string], { grantee_account: string }>(
    "SELECT DISTINCT grantee_account FROM grants WHERE product_key = ? AND device_name = ? AND kind = 'device' ORDER BY grantee_account",
  );
  const granteeProduct = db.prepare<[string, string], { n: number }>(
    "SELECT count(*) AS n FROM grants WHERE product_key = ? AND device_name = '' AND grantee_account = ? AND kind = 'product'",
  );
  const grantedDevices = db.prepare<[string, string, string, number], { device_name: string }>(
    "SELECT device_name FROM grants WHERE product_key = ? AND grantee_account = ? AND kind = 'device' AND device_name > ? ORDER BY device_name LIMIT ?",
  );
  const receivedFromOthers = db.prepare<[string], { n: number }>(
    "SELECT count(*) AS n FROM grants WHERE grantee_account = ? AND kind = 'device' AND grantor_account <> grantee_account",
  );
  const given = db.prepare<[string, string, string, string, number], Row>(
    "SELECT * FROM grants WHERE grantor_account = ? AND (? = '' OR product_key = ?) AND grant_id > ? ORDER BY grant_id LIMIT ?",
  );
  const received = db.prepare<[string, string, string, string, number], Row>(
    "SELECT * FROM grants WHERE grantee_account = ? AND (? = '' OR product_key = ?) AND grant_id > ? ORDER BY grant_id LIMIT ?",
  );
  const removeDevice = db.prepare("DELETE FROM grants WHERE product_key = ? AND device_name = ? AND kind = 'device'");
  const removeProduct = db.prepare("DELETE FROM grants WHERE product_key = ?");

  return {
    /** Grants a device (and its product, with the first device) to `grantee`; the same grant again returns it. */
    grantDevice(productKey: string, deviceName: string, grantor: string, grantee: string): { device: GrantRecord; product: GrantRecord } {
      const t = now();
      return db.transaction(() => {
        let product = selectOne.get(productKey, "", grantee);
        if (product === undefined) {
          insert.run(newGrantId(), "product", productKey, "", grantor, grantee, t);
          product = selectOne.get(productKey, "", grantee)!;
        }
        let device = selectOne.get(productKey, deviceName, grantee);
        if (device === undefined) {
          insert.run(newGrantId(), "device", productKey, deviceName, grantor, grantee, t);
          device = selectOne.get(productKey, deviceName, grantee)!;
        }
        return { device: toGrant(device), product: toGrant(product) };
      })();
    },
    get(grantId: string): GrantRecord | undefined {
      const r = selectById.get(grantId);
      return r === undefined ? undefined : toGrant(r);
    },
    /** Revokes a grant; R16: a product grant only once no device grant of it remains. */
    revoke(grantId: string): GrantRecord {
      return db.transaction(() => {
        const r = selectById.get(grantId);
        if (r === undefined) throw new NotFoundError(`grant ${grantId} does not exist`, { field: "grant_id" });
        if (r.kind === "product") {
          const d = deviceGrantsOf.get(r.product_key, r.grantee_account);
          if (d !== undefined) {
            throw new RuleViolationError(
              "R16",
              `the grant of product ${r.product_key} to account ${r.grantee_account} is revoked only after its device grants: device ${d.device_name} is still granted (grant ${d.grant_id})`,
              { field: "grant_id" },
            );
          }
        }
        remove.run(grantId);
        return toGrant(r);
      })();
    },
    /** Grants of a product (device grants first), for the R12 refusal. */
    ofProduct(productKey: string): GrantRecord[] {
      return ofProduct.all(productKey).map(toGrant);
    },
    hasProductGrant(productKey: string, grantee: string): boolean {
      return granteeProduct.get(productKey, grantee)!.n > 0;
    },
    hasDeviceGrant(productKey: string, deviceName: string, grantee: string): boolean {
      return granteeDevice.get(productKey, deviceName, grantee)!.n > 0;
    },
    /** The accounts a device is granted to (R15): they may read its data and subscribe to it. */
    granteesOf(productKey: string, deviceName: string): string[] {
      return granteesOfDevice.all(productKey, deviceName).map((r) => r.grantee_account);
    },
    /** DeviceNames of `productKey` granted to `grantee`, a page at a time. */
    grantedDevicesPage(productKey: string, grantee: string, size: number, pageToken: string): Page<string> {
      const after = decodePageToken(pageToken) ?? "";
      return toPage(grantedDevices.all(productKey, grantee, after, size + 1).map((r) => r.device_name), size, (dn) => dn);
    },
    /** R17: the account was granted at least one device by another account. */
    receivedFromOthers(grantee: string): boolean {
      return receivedFromOthers.get(grantee)!.n > 0;
    },
    list(side: "given" | "received", account: string, productKey: string, size: number, pageToken: string): Page<GrantRecord> {
      const after = decodePageToken(pageToken) ?? "";
      const rows = (side === "given" ? given : received).all(account, productKey, productKey, after, size + 1).map(toGrant);
      return toPage(rows, size, (g) => g.grantId);
    },
    /** The owner deleted the device or product: its grants go with it. */
    forgetDevice(productKey: string, deviceName: string): void {
      removeDevice.run(productKey, deviceName);
    },
    forgetProduct(productKey: string): void {
      removeProduct.run(productKey);
    },
  };
}
