import type { Db } from "./db.js";
import { isUniqueViolation } from "./db.js";
import {
  AlreadyExistsError,
  EMPTY_THING_MODEL,
  NotFoundError,
  PreconditionError,
  newProductKey,
  type DataFormat,
  type NodeType,
  type DescribeInstance,
  type PoolRoute,
  type Product,
  type ProductBundle,
  type ScriptType,
  type TopicClass,
  type TopicOperation,
} from "../domain/index.js";
import { toPage, decodePageToken, type Page } from "./paging.js";
import type { RecordsRepo } from "./records.js";
import type { StoreHub } from "./events.js";
import type { DevicesRepo } from "./devices.js";
import { createProductCopies } from "./product-copies.js";

interface ProductRow {
  product_key: string;
  account_id: string;
  product_name: string;
  node_type: NodeType;
  data_format: DataFormat;
  auth_type: "device-secret";
  status: "developing" | "published";
  description: string;
  owner_instance_id: string;
  received_from: string;
  version: number;
  nearest_candidates: string;
  created_at: number;
  updated_at: number;
}
interface TopicRow {
  topic_id: number;
  product_key: string;
  short_name: string;
  operation: TopicOperation;
  description: string;
}

const PRODUCT_COLUMNS =
  "product_key, account_id, product_name, node_type, data_format, auth_type, status, description, owner_instance_id, received_from, version, nearest_candidates, created_at, updated_at";

const toProduct = (r: ProductRow): Product => ({
  productKey: r.product_key,
  accountId: r.account_id,
  productName: r.product_name,
  nodeType: r.node_type,
  dataFormat: r.data_format,
  authType: r.auth_type,
  status: r.status,
  description: r.description,
  ownerInstanceId: r.owner_instance_id,
  receivedFrom: r.received_from,
  version: r.version,
  candidates: JSON.parse(r.nearest_candidates) as string[],
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});
const toTopic = (r: TopicRow): TopicClass => ({
  topicId: r.topic_id,
  productKey: r.product_key,
  shortName: r.short_name,
  operation: r.operation,
  description: r.description,
});

export interface NewProduct {
  accountId: string;
  productName: string;
  nodeType: NodeType;
  dataFormat: DataFormat;
  description: string;
  ownerInstanceId: string;
}

export type ProductsRepo = ReturnType<typeof createProductsRepo>;

export interface ProductsRepoOptions {
  db: Db;
  hub: StoreHub;
  /** Where an owned product's route (and pool entry) is committed, in the change's transaction. */
  records: RecordsRepo;
  /** Counts a product's devices (a product with devices is not deleted). */
  devices: Pick<DevicesRepo, "countOfProduct">;
  /** This instance's id and region (written into the product's route). */
  self: string;
  where: DescribeInstance;
  regionId: string;
  now?: () => number;
}

/**
 * Products, their topic classes, thing model and script. Every change to a
 * product owned here bumps its version and commits its route (replication
 * plane) in the same transaction; a pooled product's pool entry follows it.
 */
export function createProductsRepo(opts: ProductsRepoOptions) {
  const { db, hub, records, self } = opts;
  const now = opts.now ?? Date.now;
  const insert = db.prepare(
    `INSERT INTO products(${PRODUCT_COLUMNS}) VALUES (?, ?, ?, ?, ?, 'device-secret', 'developing', ?, ?, '', 1, '[]', ?, ?)`,
  );
  const select = db.prepare<[string], ProductRow>(`SELECT ${PRODUCT_COLUMNS} FROM products WHERE product_key = ?`);
  const listByAccount = db.prepare<[string, string, number], ProductRow>(
    `SELECT ${PRODUCT_COLUMNS} FROM products WHERE account_id = ? AND product_key > ? ORDER BY product_key LIMIT ?`,
  );
  const listAll = db.prepare<[], ProductRow>(`SELECT ${PRODUCT_COLUMNS} FROM products`);
  const bump = db.prepare("UPDATE products SET version = version + 1, updated_at = ? WHERE product_key = ?");
  const setName = db.prepare("UPDATE products SET product_name = ? WHERE product_key = ?");
  const setDescription = db.prepare("UPDATE products SET description = ? WHERE product_key = ?");
  const setStatus = db.prepare("UPDATE products SET status = ? WHERE product_key = ?");
  const del = db.prepare("DELETE FROM products WHERE product_key = ?");
  const selectAccountName = db.prepare<[string], { account_name: string }>("SELECT account_name FROM accounts WHERE account_id = ?");
  const selectCopies = db.prepare<[string], { instance_id: string; synced_version: number }>(
    "SELECT instance_id, synced_version FROM product_copies WHERE product_key = ? ORDER BY instance_id",
  );
  const selectModel = db.prepare<[string], { thing_model: string | null }>("SELECT thing_model FROM products WHERE product_key = ?");
  const setModel = db.prepare("UPDATE products SET thing_model = ? WHERE product_key = ?");
  const selectScript = db.prepare<[string], { script_type: ScriptType | null; script_content: string | null }>(
    "SELECT script_type, script_content FROM products WHERE product_key = ?",
  );
  const setScript = db.prepare("UPDATE products SET script_type = ?, script_content = ? WHERE product_key = ?");
  const insertTopic = db.prepare("INSERT INTO topic_classes(product_key, short_name, operation, description) VALUES (?, ?, ?, ?)");
  const selectTopic = db.prepare<[number], TopicRow>("SELECT * FROM topic_classes WHERE topic_id = ?");
  const listTopics = db.prepare<[string], TopicRow>("SELECT * FROM topic_classes WHERE product_key = ? ORDER BY topic_id");
  const updateTopic = db.prepare("UPDATE topic_classes SET short_name = ?, operation = ?, description = ? WHERE topic_id = ?");
  const deleteTopic = db.prepare("DELETE FROM topic_classes WHERE topic_id = ?");
  const setCandidates = db.prepare("UPDATE products SET nearest_candidates = ? WHERE product_key = ?");

  /** Commits the product's route; a product in the public pool (R17) shows its home's current version everywhere. */
  const commitRoute = (p: Product, deleted: boolean): void => {
    const pooled = deleted ? undefined : records.pool(p.productKey);
    if (pooled !== undefined && p.version > pooled.version) {
      records.commit({ kind: "pool", route: repo.poolEntry(p, pooled.accountName, pooled.pooledAt) }, true);
    }
    const t = now();
    records.commit(
      {
        kind: "product",
        route: {
          productKey: p.productKey,
          home: p.ownerInstanceId,
          version: p.version,
          deleted,
          candidates: p.candidates,
          accountId: p.accountId,
          productName: p.productName,
          nodeType: p.nodeType,
          status: p.status,
          regionId: opts.regionId,
          committedBy: self,
          committedAt: t,
        },
      },
      true,
    );
  };
  /** Every change to an owned product bumps its version and commits its route. */
  const selectVersion = db.prepare<[string], number>("SELECT version FROM products WHERE product_key = ?").pluck();
  const touch = (productKey: string): void => {
    bump.run(now(), productKey);
    commitRoute(toProduct(select.get(productKey)!), false);
  };
  const uniqueName = (e: unknown, name: string): never => {
    if (isUniqueViolation(e)) {
      throw new AlreadyExistsError(`product_name: the account already has a product named "${name}"`, { field: "product_name" });
    }
    throw e;
  };

  const getProduct = (productKey: string): Product | undefined => {
    const r = select.get(productKey);
    return r === undefined ? undefined : toProduct(r);
  };
  const repo = {
    // The copies of a product: those sent from here, and a copy received here (product-copies.ts).
    ...createProductCopies({ db, self, where: opts.where, get: (pk) => getProduct(pk) }),
    create(p: NewProduct): Product {
      const t = now();
      for (let attempt = 0; ; attempt++) {
        const productKey = newProductKey();
        try {
          const created = db.transaction(() => {
            insert.run(productKey, p.accountId, p.productName, p.nodeType, p.dataFormat, p.description, p.ownerInstanceId, t, t);
            const row = toProduct(select.get(productKey)!);
            commitRoute(row, false);
            return row;
          })();
          hub.emit("product.changed", created);
          return created;
        } catch (e) {
          // A ProductKey collision (62^11 space) is retried; a name clash is the caller's.
          if (isUniqueViolation(e) && String((e as Error).message).includes("product_key") && attempt < 3) continue;
          return uniqueName(e, p.productName);
        }
      }
    },
    /**
     * Sets an owned product's nearest-strategy candidate set (R3); a new set
     * bumps the version and commits the product's route, which carries it to
     * every daemon. False when the set is the same.
     */
    setCandidates(productKey: string, candidates: readonly string[]): boolean {
      const json = JSON.stringify(candidates);
      const changed = db.transaction(() => {
        const r = select.get(productKey);
        if (r === undefined) throw new NotFoundError(`product ${productKey} does not exist`, { field: "product_key" });
        if (r.nearest_candidates === json) return false;
        setCandidates.run(json, productKey);
        touch(productKey);
        return true;
      })();
      if (changed) hub.emit("product.changed", this.get(productKey)!);
      return changed;
    },
    get(productKey: string): Product | undefined {
      const r = select.get(productKey);
      return r === undefined ? undefined : toProduct(r);
    },
    require(productKey: string): Product {
      const p = this.get(productKey);
      if (p === undefined) throw new NotFoundError(`product ${productKey} does not exist`, { field: "product_key" });
      return p;
    },
    listByAccount(accountId: string, size: number, pageToken: string): Page<Product> {
      const after = decodePageToken(pageToken) ?? "";
      return toPage(listByAccount.all(accountId, after, size + 1).map(toProduct), size, (p) => p.productKey);
    },
    all(): Product[] {
      return listAll.all().map(toProduct);
    },
    deviceCount(productKey: string): number {
      return opts.devices.countOfProduct(productKey);
    },
    update(productKey: string, change: { productName?: string; description?: string }): Product {
      return db.transaction(() => {
        if (change.productName !== undefined) {
          try {
            setName.run(change.productName, productKey);
          } catch (e) {
            uniqueName(e, change.productName);
          }
        }
        if (change.description !== undefined) setDescription.run(change.description, productKey);
        touch(productKey);
        return this.require(productKey);
      })();
    },
    release(productKey: string): Product {
      return db.transaction(() => {
        setStatus.run("published", productKey);
        touch(productKey);
        return this.require(productKey);
      })();
    },
    /** Everything that moves with the product (R8), as of now. */
    bundle(productKey: string): ProductBundle {
      const p = this.require(productKey);
      return {
        productKey: p.productKey,
        accountId: p.accountId,
        accountName: selectAccountName.get(p.accountId)?.account_name ?? "",
        productName: p.productName,
        nodeType: p.nodeType,
        dataFormat: p.dataFormat,
        authType: p.authType,
        status: p.status,
        description: p.description,
        ownerInstanceId: p.ownerInstanceId,
        version: p.version,
        candidates: p.candidates,
        topics: this.topics(productKey).map((t) => ({ shortName: t.shortName, operation: t.operation, description: t.description })),
        thingModel: this.thingModel(productKey),
        script: this.script(productKey),
        ownerSignature: p.ownerInstanceId === opts.self ? undefined : this.ownerSignature(productKey),
      };
    },
    /** Records that `instanceId` holds a copy at `version` (never lowers it). */
    copies(productKey: string): { instanceId: string; syncedVersion: number }[] {
      return selectCopies.all(productKey).map((r) => ({ instanceId: r.instance_id, syncedVersion: r.synced_version }));
    },
    /** Deletes a product without devices or copies elsewhere (its topic classes go with it). */
    delete(productKey: string): void {
      db.transaction(() => {
        const n = opts.devices.countOfProduct(productKey);
        if (n > 0) throw new PreconditionError(`product ${productKey} still has ${n} devices: delete them first`, { field: "product_key" });
        const copies = selectCopies.all(productKey);
        if (copies.length > 0) {
          throw new PreconditionError(`product ${productKey} was distributed to ${copies.map((c) => c.instance_id).join(", ")}: it cannot be deleted`, { field: "product_key" });
        }
        const p = select.get(productKey);
        del.run(productKey);
        if (p !== undefined) commitRoute({ ...toProduct(p), version: p.version + 1 }, true);
      })();
      hub.emit("product.deleted", { productKey });
    },
    /** The product's version here (cheap: a cache of what derives from it checks it on each use); undefined when absent. */
    version(productKey: string): number | undefined {
      return selectVersion.get(productKey);
    },
    thingModel(productKey: string): string {
      return selectModel.get(productKey)?.thing_model ?? EMPTY_THING_MODEL;
    },
    setThingModel(productKey: string, tsl: string): void {
      db.transaction(() => {
        setModel.run(tsl, productKey);
        touch(productKey);
      })();
    },
    script(productKey: string): { scriptType: ScriptType; content: string } | undefined {
      const r = selectScript.get(productKey);
      if (r === undefined || r.script_type === null || r.script_content === null) return undefined;
      return { scriptType: r.script_type, content: r.script_content };
    },
    setScript(productKey: string, scriptType: ScriptType, content: string, mode: "create" | "update"): void {
      db.transaction(() => {
        const exists = this.script(productKey) !== undefined;
        if (mode === "create" && exists) {
          throw new AlreadyExistsError(`product ${productKey} already has a script: use UpdateThingScript`, { field: "product_key" });
        }
        if (mode === "update" && !exists) {
          throw new NotFoundError(`product ${productKey} has no script: use CreateThingScript`, { field: "product_key" });
        }
        setScript.run(scriptType, content, productKey);
        touch(productKey);
      })();
    },
    topic(topicId: number): TopicClass | undefined {
      const r = selectTopic.get(topicId);
      return r === undefined ? undefined : toTopic(r);
    },
    topics(productKey: string): TopicClass[] {
      return listTopics.all(productKey).map(toTopic);
    },
    /** The public pool's view of a product here (R17): info, topic classes, thing model; no device, no secret. */
    /** The pool entry (R17) of a product owned here, as it is now. */
    poolEntry(p: Product, accountName: string, pooledAt: number): PoolRoute {
      return {
        productKey: p.productKey,
        accountId: p.accountId,
        accountName,
        productName: p.productName,
        nodeType: p.nodeType,
        dataFormat: p.dataFormat,
        description: p.description,
        home: self,
        version: p.version,
        topics: this.topics(p.productKey).map((tc) => ({ shortName: tc.shortName, operation: tc.operation, description: tc.description })),
        thingModel: this.thingModel(p.productKey),
        pooledAt,
        committedBy: self,
        committedAt: now(),
      };
    },
    createTopic(productKey: string, shortName: string, op: TopicOperation, description: string): TopicClass {
      return db.transaction(() => {
        let id: number;
        try {
          id = Number(insertTopic.run(productKey, shortName, op, description).lastInsertRowid);
        } catch (e) {
          if (isUniqueViolation(e)) {
            throw new AlreadyExistsError(`topic_short_name: product ${productKey} already has topic class "${shortName}"`, { field: "topic_short_name" });
          }
          throw e;
        }
        touch(productKey);
        return this.topic(id)!;
      })();
    },
    updateTopic(topic: TopicClass, shortName: string, op: TopicOperation, description: string): TopicClass {
      return db.transaction(() => {
        try {
          updateTopic.run(shortName, op, description, topic.topicId);
        } catch (e) {
          if (isUniqueViolation(e)) {
            throw new AlreadyExistsError(`topic_short_name: product ${topic.productKey} already has topic class "${shortName}"`, { field: "topic_short_name" });
          }
          throw e;
        }
        touch(topic.productKey);
        return this.topic(topic.topicId)!;
      })();
    },
    deleteTopic(topic: TopicClass): void {
      db.transaction(() => {
        deleteTopic.run(topic.topicId);
        touch(topic.productKey);
      })();
    },
  };
  return repo;
}
