import {
  InvalidArgumentError,
  NotFoundError,
  actingAccount,
  assertGrantsAllowedHere,
  assertHeldHere,
  assertNotDistributed,
  assertPublishedForGrant,
  checkDeviceName,
  checkProductKey,
  granteeRefusal,
  pageSize,
} from "../domain/index.js";
import type { HandlerKit, Handlers } from "./context.js";
import * as wire from "./convert.js";

/** Device authorization (R12, R14–R18): grants local to the instance that holds the device. */
export function grantHandlers({ deps, access, audited }: HandlerKit): Handlers<"grantDevice" | "revokeGrant" | "listGrants"> {
  const { devices, grants } = deps.repos;
  const self = deps.directory.self;
  return {
    grantDevice(req, ctx) {
      assertGrantsAllowedHere(deps.grantInstanceKinds.includes(self.kind), self, deps.grantInstanceKinds);
      const p = access.ownedProduct(ctx, req.productKey);
      checkDeviceName(req.deviceName);
      const d = devices.require(req.productKey, req.deviceName);
      const grantee = access.directoryAccount(req.granteeAccountId, req.granteeAccountName, "grantee_account");
      if (grantee.accountId === p.accountId) throw new InvalidArgumentError(req.granteeAccountId !== "" ? "grantee_account_id" : "grantee_account_name", "is the owner's own account");
      const subject = { action: "grant.created", accountId: p.accountId, otherAccount: grantee.accountId, productKey: p.productKey, deviceName: d.deviceName, instanceId: self.id };
      audited.refusalsSync(ctx, subject, () => {
        assertPublishedForGrant(p.status, p.productKey);
        assertNotDistributed(access.distribution(p, d), `device ${p.productKey}/${d.deviceName}`, access.where);
        assertHeldHere(d, access.where);
      });
      const g = grants.grantDevice(p.productKey, d.deviceName, p.accountId, grantee.accountId);
      audited.record(ctx, { ...subject, result: "ok", subjectId: g.device.grantId });
      return { deviceGrant: wire.grantToWire(g.device), productGrant: wire.grantToWire(g.product) };
    },
    revokeGrant(req, ctx) {
      if (req.grantId === "") throw new InvalidArgumentError("grant_id", "is required");
      const account = actingAccount(ctx.principal);
      const g = grants.get(req.grantId);
      if (g === undefined || g.grantorAccountId !== account) {
        if (g !== undefined && g.granteeAccountId === account) throw granteeRefusal("revoke its grant", g.productKey, account);
        throw new NotFoundError(`grant ${req.grantId} does not exist`, { field: "grant_id" });
      }
      const subject = { action: "grant.revoked", accountId: g.grantorAccountId, otherAccount: g.granteeAccountId, productKey: g.productKey, deviceName: g.deviceName, instanceId: self.id, subjectId: g.grantId };
      audited.refusalsSync(ctx, subject, () => grants.revoke(g.grantId));
      audited.record(ctx, { ...subject, result: "ok", detail: g.kind });
      return {};
    },
    listGrants(req, ctx) {
      if (!["", "given", "received"].includes(req.side)) throw new InvalidArgumentError("side", "must be given or received");
      const pk = req.productKey === "" ? "" : checkProductKey(req.productKey);
      const page = grants.list(req.side === "received" ? "received" : "given", actingAccount(ctx.principal), pk, pageSize(req.pageSize), req.pageToken);
      return { grants: page.items.map(wire.grantToWire), nextPageToken: page.nextPageToken };
    },
  };
}
