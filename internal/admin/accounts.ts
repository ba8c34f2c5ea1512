import { DESCRIPTION_MAX, InvalidArgumentError, checkAccountId, checkAccountName, checkText, pageSize, requireOperator } from "../domain/index.js";
import type { HandlerKit, Handlers } from "./context.js";
import * as wire from "./convert.js";

/** Accounts of the directory and their API tokens at this daemon (operator only). */
export function accountHandlers({ deps }: HandlerKit): Handlers<"createAccount" | "queryAccountList" | "createAccountToken" | "queryAccountTokenList" | "revokeAccountToken"> {
  const { accounts } = deps.repos;
  return {
    createAccount(req, ctx) {
      requireOperator(ctx.principal);
      return { account: wire.accountToWire(accounts.create(checkAccountName(req.accountName))) };
    },
    queryAccountList(req, ctx) {
      requireOperator(ctx.principal);
      const page = accounts.list(pageSize(req.pageSize), req.pageToken);
      return { accounts: page.items.map(wire.accountToWire), nextPageToken: page.nextPageToken };
    },
    createAccountToken(req, ctx) {
      requireOperator(ctx.principal);
      const { token, secret } = accounts.createToken(checkAccountId(req.accountId), checkText(req.description, "description", DESCRIPTION_MAX));
      return { token: { ...token, createTimeMs: BigInt(token.createdAt), revokeTimeMs: 0n }, secret };
    },
    queryAccountTokenList(req, ctx) {
      requireOperator(ctx.principal);
      return {
        tokens: accounts.listTokens(checkAccountId(req.accountId)).map((t) => ({
          tokenId: t.tokenId,
          accountId: t.accountId,
          description: t.description,
          createTimeMs: BigInt(t.createdAt),
          revokeTimeMs: BigInt(t.revokedAt),
        })),
      };
    },
    revokeAccountToken(req, ctx) {
      requireOperator(ctx.principal);
      if (req.tokenId === "") throw new InvalidArgumentError("token_id", "is required");
      accounts.revokeToken(req.tokenId);
      return {};
    },
  };
}
