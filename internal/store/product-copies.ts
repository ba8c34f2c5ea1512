import type { Db } from "./db.js";
import { PreconditionError, type DescribeInstance, type OwnerSignature, type Product, type ProductBundle } from "../domain/index.js";
import { decodePageToken, encodePageToken, type Page } from "./paging.js";

/**
 * The copies of products (R9): at the owner, which instance holds a copy at
 * which version (the product-sync outbox); at a receiver, the read-only copy
 * itself, written only from the owner's bundle. Part of the products
 * repository (products.ts), in the caller's transaction.
 */
export function createProductCopies(o: { db: Db; self: string; where: DescribeInstance; get: (productKey: string) => Product | undefined }) {
  const { db, self, where } = o;
  const upsertCopy = db.prepare(
    "INSERT INTO product_copies(product_key, instance_id, synced_version) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET synced_version = max(synced_version, excluded.synced_version)",
  );
  const staleCopies = db.prepare<[], { product_key: string; instance_id: string; synced_version: number; version: number }>(
    "SELECT c.product_key, c.instance_id, c.synced_version, p.version FROM product_copies c JOIN products p USING (product_key) WHERE c.synced_version < p.version ORDER BY c.product_key, c.instance_id LIMIT 100",
  );
  const countStaleCopies = db.prepare<[], { n: number }>(
    "SELECT count(*) AS n FROM product_copies c JOIN products p USING (product_key) WHERE c.synced_version < p.version",
  );
  const allCopies = db.prepare<[string, number], { product_key: string; instance_id: string; synced_version: number }>(
    "SELECT product_key, instance_id, synced_version FROM product_copies WHERE product_key > ? ORDER BY product_key, instance_id LIMIT ?",
  );
  const insertProduct = db.prepare(
    `INSERT INTO products(product_key, account_id, product_name, node_type, data_format, auth_type, status, description, owner_instance_id, received_from, version, nearest_candidates, thing_model, script_type, script_content, created_at, updated_at)
     VALUES (@productKey, @accountId, @productName, @nodeType, @dataFormat, @authType, @status, @description, @ownerInstanceId, @receivedFrom, @version, @candidatesJson, @thingModel, @scriptType, @scriptContent, @t, @t)`,
  );
  const updateProduct = db.prepare(
    `UPDATE products SET product_name = @productName, node_type = @nodeType, data_format = @dataFormat, auth_type = @authType, status = @status,
       description = @description, version = @version, nearest_candidates = @candidatesJson, thing_model = @thingModel, script_type = @scriptType, script_content = @scriptContent, updated_at = @t
     WHERE product_key = @productKey`,
  );
  const setSignature = db.prepare("UPDATE products SET owner_certificate = ?, owner_signature = ? WHERE product_key = ?");
  const selectSignature = db.prepare<[string], { owner_certificate: Buffer | null; owner_signature: Buffer | null }>(
    "SELECT owner_certificate, owner_signature FROM products WHERE product_key = ?",
  );
  const deleteTopics = db.prepare("DELETE FROM topic_classes WHERE product_key = ?");
  const insertTopic = db.prepare("INSERT INTO topic_classes(product_key, short_name, operation, description) VALUES (?, ?, ?, ?)");

  const keepSignature = (b: ProductBundle): void => {
    setSignature.run(b.ownerSignature === undefined ? null : Buffer.from(b.ownerSignature.certificate), b.ownerSignature === undefined ? null : Buffer.from(b.ownerSignature.signature), b.productKey);
  };

  return {
    /**
     * Records the version a receiver holds. The owner is never a copy: a
     * device distributed back to the product's home takes no copy there, and
     * the owner's version is not this instance's to push.
     */
    recordCopy(productKey: string, instanceId: string, version: number): void {
      if (o.get(productKey)?.ownerInstanceId === instanceId) return;
      upsertCopy.run(productKey, instanceId, version);
    },
    /** Copies behind their product's version: the product-sync outbox. */
    staleCopies(): { productKey: string; instanceId: string; syncedVersion: number; version: number }[] {
      return staleCopies.all().map((r) => ({ productKey: r.product_key, instanceId: r.instance_id, syncedVersion: r.synced_version, version: r.version }));
    },
    staleCopyCount(): number {
      return countStaleCopies.get()!.n;
    },
    /** Copies by product, paged by product key (a product's copies stay on one page). */
    listCopies(size: number, pageToken: string): Page<{ productKey: string; instanceId: string; syncedVersion: number }> {
      const after = decodePageToken(pageToken) ?? "";
      const rows = allCopies.all(after, size * 50 + 1).map((r) => ({ productKey: r.product_key, instanceId: r.instance_id, syncedVersion: r.synced_version }));
      const keys = [...new Set(rows.map((r) => r.productKey))];
      if (keys.length <= size && rows.length <= size * 50) return { items: rows, nextPageToken: "" };
      const keep = new Set(keys.slice(0, Math.min(size, keys.length - 1)));
      const items = rows.filter((r) => keep.has(r.productKey));
      return { items, nextPageToken: encodePageToken([...keep].pop()!) };
    },
    /**
     * The receiver's read-only copy (R9) from the owner's bundle, owned here
     * by the `receiving` account (cross-account: not the sender's). Taken
     * only when newer than the copy held; a product owned here, or a copy of
     * another owner or account, is never changed. True when the copy changed.
     */
    /** The owner's signature kept with a copy here, to relay with its bundle. */
    ownerSignature(productKey: string): OwnerSignature | undefined {
      const r = selectSignature.get(productKey);
      return r?.owner_certificate == null || r.owner_signature == null ? undefined : { certificate: r.owner_certificate, signature: r.owner_signature };
    },
    applyCopy(b: ProductBundle, source: string, t: number, receiving: string): boolean {
      const local = o.get(b.productKey);
      const row = {
        ...b,
        accountId: receiving,
        receivedFrom: source,
        candidatesJson: JSON.stringify(b.candidates),
        thingModel: b.thingModel,
        scriptType: b.script?.scriptType ?? null,
        scriptContent: b.script?.content ?? null,
        t,
      };
      if (local === undefined) {
        insertProduct.run(row);
      } else {
        if (local.ownerInstanceId !== b.ownerInstanceId) {
          throw new PreconditionError(`product ${b.productKey} here is owned by ${where(local.ownerInstanceId)}, not ${where(b.ownerInstanceId)}`, { field: "product.product_key" });
        }
        if (local.accountId !== receiving) {
          throw new PreconditionError(`product ${b.productKey} here belongs to account ${local.accountId}, not ${receiving}`, { field: "target_account_id" });
        }
        if (local.ownerInstanceId === self) return false;
        if (b.version <= local.version) {
          // The same version, now with its owner's signature (a copy made before signatures).
          if (b.version === local.version && b.ownerSignature !== undefined && this.ownerSignature(b.productKey) === undefined) keepSignature(b);
          return false;
        }
        updateProduct.run(row);
        deleteTopics.run(b.productKey);
      }
      keepSignature(b);
      for (const tc of b.topics) insertTopic.run(b.productKey, tc.shortName, tc.operation, tc.description);
      return true;
    },
  };
}
