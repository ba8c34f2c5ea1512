import { InvalidArgumentError, NotFoundError, RuleViolationError, checkProductKey, pageSize } from "../domain/index.js";
import type { HandlerKit, Handlers } from "./context.js";
import * as wire from "./convert.js";

/** The public pool (R17): a published product put there for every account to view, for good. */
export function poolHandlers({ deps, access, audited }: HandlerKit): Handlers<"addProductToPool" | "listPoolProducts" | "queryPoolProduct"> {
  const { accounts, products, records } = deps.repos;
  const self = deps.directory.self.id;
  return {
    addProductToPool(req, ctx) {
      const p = access.ownedProduct(ctx, req.productKey);
      if (!req.confirmIrreversible) {
        throw new InvalidArgumentError("confirm_irreversible", "must be true: a product in the public pool cannot be taken out again (R17)", { rule: "R17" });
      }
      const subject = { action: "pool.added", accountId: p.accountId, productKey: p.productKey, instanceId: self };
      audited.refusalsSync(ctx, subject, () => {
        if (p.ownerInstanceId !== self) {
          throw new RuleViolationError("R17", `product ${p.productKey} is a read-only copy here (R9); its owner puts it in the pool at ${access.where(p.ownerInstanceId)}`, { field: "product_key" });
        }
        if (p.status !== "published") {
          throw new RuleViolationError("R17", `product ${p.productKey} is ${p.status}: only a published product can be put in the public pool; release it first`, { field: "product_key" });
        }
      });
      const existing = records.pool(p.productKey);
      if (existing !== undefined) return { product: wire.poolToWire(existing, true) };
      const entry = products.poolEntry(p, accounts.require(p.accountId).accountName, Date.now());
      records.commitOne({ kind: "pool", route: entry });
      audited.record(ctx, { ...subject, result: "ok", subjectId: p.productKey });
      return { product: wire.poolToWire(entry, true) };
    },
    listPoolProducts(req, ctx) {
      access.poolViewer(ctx);
      const page = records.poolPage(pageSize(req.pageSize), req.pageToken);
      return { products: page.items.map((p) => wire.poolToWire(p, false)), nextPageToken: page.nextPageToken };
    },
    queryPoolProduct(req, ctx) {
      access.poolViewer(ctx);
      checkProductKey(req.productKey);
      const p = records.pool(req.productKey);
      if (p === undefined) throw new NotFoundError(`product ${req.productKey} is not in the public pool`, { field: "product_key" });
      return { product: wire.poolToWire(p, true) };
    },
  };
}
