import { PrincipalKind } from "../gen/iotfed/v1/admin_pb.js";
import { requireOperator } from "../domain/index.js";
import type { HandlerKit, Handlers } from "./context.js";

/** Who the caller is, where it is, and the store's backup (operator only). */
export function instanceHandlers({ deps }: HandlerKit): Handlers<"whoAmI" | "backup"> {
  const self = deps.directory.self;
  return {
    whoAmI(_req, ctx) {
      const p = ctx.principal;
      return {
        kind: p.kind === "operator" ? PrincipalKind.OPERATOR : PrincipalKind.ACCOUNT,
        accountId: p.kind === "operator" ? (p.actingFor ?? "") : p.accountId,
        regionId: self.region,
        instanceId: self.id,
      };
    },
    async backup(req, ctx) {
      requireOperator(ctx.principal);
      const name = req.name === "" ? `iotfed-${self.id}-${new Date().toISOString().replace(/[:.]/g, "-")}.db` : req.name;
      const r = await deps.backup(name);
      return { path: r.path, bytes: BigInt(r.bytes), pages: BigInt(r.pages), schemaVersion: r.schemaVersion, lastRevision: BigInt(r.lastRevision), durationMs: BigInt(r.ms) };
    },
  };
}
