import { InvalidArgumentError, actingAccount, checkAuthCode, newJobId, pageSize, resolveCrossAccountTarget, type KnownInstanceKind, type Product } from "../domain/index.js";
import { fromPeerError } from "../rpc/index.js";
import type { AdminContext, PeerCalls, HandlerKit, Handlers } from "./context.js";
import * as wire from "./convert.js";

export type CrossAccount = ReturnType<typeof createCrossAccount>;

/**
 * Cross-account distribution (R4, R5): authorization codes asked of the
 * target daemon, and the redemption that a cross-account job does at the
 * target before it exists.
 */
export function createCrossAccount({ deps, access, audited }: HandlerKit) {
  const { accounts, authCodes } = deps.repos;
  const { directory } = deps;
  const self: KnownInstanceKind = directory.self;
  const peerKinds = (): KnownInstanceKind[] => directory.peers();
  const peerOf = (target: string): PeerCalls => {
    const c = deps.peerClient(target);
    if (c === undefined) throw new InvalidArgumentError("target_instance_id", `${target} is not a configured peer of ${self.id}`);
    return c;
  };
  /** A peer's refusal, told to our caller in its own words (UNAVAILABLE when it cannot be reached). */
  const peerError = (target: string) => (e: unknown) => fromPeerError(`target ${directory.where(target)}`, e);

  const handlers: Handlers<"requestAuthCode" | "listAuthCodes"> = {
    async requestAuthCode(req, ctx) {
      const requester = accounts.require(actingAccount(ctx.principal));
      const receiver = access.directoryAccount(req.targetAccountId, req.targetAccountName, "target_account");
      if (receiver.accountId === requester.accountId) {
        throw new InvalidArgumentError(req.targetAccountId !== "" ? "target_account_id" : "target_account_name", "is your own account: same-account distribution needs no code");
      }
      const target = resolveCrossAccountTarget(req.targetRegionId, req.targetInstanceId, self, peerKinds());
      const subject = { action: "authcode.requested", accountId: requester.accountId, otherAccount: receiver.accountId, instanceId: target.id };
      const r = await audited.refusals(
        ctx,
        subject,
        () =>
          peerOf(target.id).issueAuthCode({
            requesterAccountId: requester.accountId,
            requesterAccountName: requester.accountName,
            targetAccountId: receiver.accountId,
            requesterAddress: ctx.address,
          }),
        peerError(target.id),
      );
      audited.record(ctx, { ...subject, result: "ok", subjectId: r.codeId });
      // R4: the requester learns that a code was issued, never the code.
      return { codeId: r.codeId, targetAccountId: receiver.accountId, targetRegionId: target.region, targetInstanceId: target.id, expireTimeMs: r.expireTimeMs };
    },
    listAuthCodes(req, ctx) {
      const page = authCodes.list(actingAccount(ctx.principal), pageSize(req.pageSize), req.pageToken);
      return { codes: page.items.map(wire.authCodeToWire), nextPageToken: page.nextPageToken };
    },
  };

  return {
    handlers,
    /** Another account than the product's owner is named: a cross-account job (R4). */
    requested: (targetAccountId: string, owner: string): boolean => targetAccountId !== "" && targetAccountId !== owner,
    /**
     * R4: a cross-account job redeems its code at the target before it
     * exists; the target then accepts the job's handoffs from here only.
     */
    async redeemForJob(ctx: AdminContext, p: Product, req: { targetAccountId: string; targetRegionId: string; targetInstanceId: string; authCode: string }) {
      const receiver = access.directoryAccount(req.targetAccountId, "", "target_account");
      const target = resolveCrossAccountTarget(req.targetRegionId, req.targetInstanceId, self, peerKinds());
      const code = checkAuthCode(req.authCode);
      const jobId = newJobId();
      const subject = { action: "job.created", accountId: p.accountId, otherAccount: receiver.accountId, productKey: p.productKey, instanceId: target.id, subjectId: jobId };
      await audited.refusals(
        ctx,
        subject,
        () => peerOf(target.id).redeemAuthCode({ code, requesterAccountId: p.accountId, targetAccountId: receiver.accountId, jobId, productKey: p.productKey, requesterAddress: ctx.address }),
        peerError(target.id),
      );
      return { jobId, receiver, target };
    },
  };
}
