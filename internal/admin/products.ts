import {
  DESCRIPTION_MAX,
  InvalidArgumentError,
  MAX_SCRIPT_BYTES,
  NotFoundError,
  RuleViolationError,
  actingAccount,
  checkProductName,
  checkText,
  checkTopicShortName,
  pageSize,
  parseThingModel,
} from "../domain/index.js";
import type { HandlerKit, Handlers } from "./context.js";
import * as wire from "./convert.js";

type ProductMethods =
  | "createProduct"
  | "updateProduct"
  | "queryProduct"
  | "queryProductList"
  | "deleteProduct"
  | "releaseProduct"
  | "createProductTopic"
  | "updateProductTopic"
  | "deleteProductTopic"
  | "queryProductTopic"
  | "importThingModelTsl"
  | "getThingModelTsl"
  | "createThingScript"
  | "updateThingScript"
  | "getThingScript";

/**
 * Products with their topic classes, thing model and script. Only the owner
 * instance changes a product (R9); each change bumps its version and the
 * job worker brings the copies up to it.
 */
export function productHandlers({ deps, access }: HandlerKit): Handlers<ProductMethods> {
  const { accounts, products, grants, records } = deps.repos;
  const self = deps.directory.self.id;
  const changed = <T>(v: T): T => {
    deps.kickWorker();
    return v;
  };
  const toWire = (p: Parameters<typeof wire.productToWire>[0]) => wire.productToWire(p, products.deviceCount(p.productKey));

  return {
    createProduct(req, ctx) {
      const accountId = actingAccount(ctx.principal);
      accounts.require(accountId);
      wire.authTypeFromWire(req.authType);
      const p = products.create({
        accountId,
        productName: checkProductName(req.productName),
        nodeType: wire.nodeTypeFromWire(req.nodeType),
        dataFormat: wire.dataFormatFromWire(req.dataFormat),
        description: checkText(req.description, "description", DESCRIPTION_MAX),
        ownerInstanceId: self,
      });
      return { product: wire.productToWire(p, 0) };
    },
    updateProduct(req, ctx) {
      access.writableProduct(ctx, req.productKey);
      const change: { productName?: string; description?: string } = {};
      if (req.productName !== undefined) change.productName = checkProductName(req.productName);
      if (req.description !== undefined) change.description = checkText(req.description, "description", DESCRIPTION_MAX);
      if (Object.keys(change).length === 0) throw new InvalidArgumentError("product_name", "nothing to change: set product_name or description");
      return { product: toWire(changed(products.update(req.productKey, change))) };
    },
    queryProduct(req, ctx) {
      return { product: toWire(access.visibleProduct(ctx, req.productKey).p) };
    },
    queryProductList(req, ctx) {
      const page = products.listByAccount(actingAccount(ctx.principal), pageSize(req.pageSize), req.pageToken);
      return { products: page.items.map(toWire), nextPageToken: page.nextPageToken };
    },
    deleteProduct(req, ctx) {
      access.writableProduct(ctx, req.productKey);
      if (records.pool(req.productKey) !== undefined) {
        throw new RuleViolationError("R17", `product ${req.productKey} is in the public pool, which cannot be undone: it cannot be deleted`, { field: "product_key" });
      }
      grants.forgetProduct(req.productKey);
      products.delete(req.productKey);
      return {};
    },
    releaseProduct(req, ctx) {
      access.writableProduct(ctx, req.productKey);
      return { product: toWire(changed(products.release(req.productKey))) };
    },

    createProductTopic(req, ctx) {
      access.writableProduct(ctx, req.productKey);
      const op = wire.topicOpFromWire(req.operation);
      const t = changed(products.createTopic(req.productKey, checkTopicShortName(req.topicShortName, op), op, checkText(req.description, "description", 100)));
      return { topic: wire.topicToWire(t) };
    },
    updateProductTopic(req, ctx) {
      const t = access.ownedTopic(ctx, req.topicId);
      access.writableProduct(ctx, t.productKey);
      const op = wire.topicOpFromWire(req.operation);
      const u = changed(products.updateTopic(t, checkTopicShortName(req.topicShortName, op), op, checkText(req.description, "description", 100)));
      return { topic: wire.topicToWire(u) };
    },
    deleteProductTopic(req, ctx) {
      const t = access.ownedTopic(ctx, req.topicId);
      access.writableProduct(ctx, t.productKey);
      changed(products.deleteTopic(t));
      return {};
    },
    queryProductTopic(req, ctx) {
      access.visibleProduct(ctx, req.productKey);
      return { topics: products.topics(req.productKey).map(wire.topicToWire) };
    },

    importThingModelTsl(req, ctx) {
      access.writableProduct(ctx, req.productKey);
      changed(products.setThingModel(req.productKey, parseThingModel(req.tslJson)));
      return {};
    },
    getThingModelTsl(req, ctx) {
      access.visibleProduct(ctx, req.productKey);
      return { tslJson: products.thingModel(req.productKey) };
    },

    createThingScript(req, ctx) {
      access.writableProduct(ctx, req.productKey);
      changed(products.setScript(req.productKey, wire.scriptTypeFromWire(req.scriptType), checkScript(req.scriptContent), "create"));
      return {};
    },
    updateThingScript(req, ctx) {
      access.writableProduct(ctx, req.productKey);
      changed(products.setScript(req.productKey, wire.scriptTypeFromWire(req.scriptType), checkScript(req.scriptContent), "update"));
      return {};
    },
    getThingScript(req, ctx) {
      access.visibleProduct(ctx, req.productKey);
      const s = products.script(req.productKey);
      if (s === undefined) throw new NotFoundError(`product ${req.productKey} has no script`, { field: "product_key" });
      return { scriptType: wire.scriptTypeToWire(s.scriptType), scriptContent: s.content };
    },
  };
}

function checkScript(content: string): string {
  if (content.length === 0) throw new InvalidArgumentError("script_content", "is required");
  if (Buffer.byteLength(content) > MAX_SCRIPT_BYTES) throw new InvalidArgumentError("script_content", `must be at most ${MAX_SCRIPT_BYTES} bytes`);
  return content;
}
