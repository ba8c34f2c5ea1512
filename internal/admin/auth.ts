import { ACT_AS_HEADER, ACCOUNT_ID_RE, InvalidArgumentError, NotFoundError, UnauthenticatedError, type Principal } from "../domain/index.js";
import { bearerToken, tokenMatches } from "../security/index.js";
import type { AccountsRepo } from "../store/index.js";

/**
 * Resolves the caller from `authorization: Bearer <token>`: the operator
 * token (compared in constant time against its hash), or an account token
 * (looked up by hash). The operator may act for an account with
 * `x-iotfed-account`. `header(name)` reads the call's metadata (gRPC) or
 * headers (Connect) in lower case.
 */
export function createAuthenticator(operatorTokenHash: Buffer, accounts: AccountsRepo) {
  return (header: (name: string) => string | undefined): Principal => {
    const token = bearerToken(header("authorization"));
    if (token === undefined) throw new UnauthenticatedError("missing or malformed authorization metadata: expected 'Bearer <token>'");
    const actAs = header(ACT_AS_HEADER);
    if (tokenMatches(token, operatorTokenHash)) {
      if (actAs === undefined) return { kind: "operator", actingFor: undefined };
      if (!ACCOUNT_ID_RE.test(actAs)) throw new InvalidArgumentError(ACT_AS_HEADER, "must be an account id");
      if (accounts.get(actAs) === undefined) throw new NotFoundError(`account ${actAs} does not exist`, { field: ACT_AS_HEADER });
      return { kind: "operator", actingFor: actAs };
    }
    const record = accounts.findToken(token);
    if (record === undefined) throw new UnauthenticatedError("unknown or revoked token");
    if (actAs !== undefined && actAs !== record.accountId) {
      throw new UnauthenticatedError(`${ACT_AS_HEADER} is for the operator token only`);
    }
    return { kind: "account", accountId: record.accountId, tokenId: record.tokenId };
  };
}
