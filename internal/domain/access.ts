import { PermissionDeniedError } from "./errors.js";

/** gRPC metadata with which the operator token acts for an account. */
export const ACT_AS_HEADER = "x-iotfed-account";

/**
 * Who is calling the admin API. The operator token manages accounts and may
 * act for an account; an account token acts only for its account.
 */
export type Principal =
  | { readonly kind: "operator"; readonly actingFor: string | undefined }
  | { readonly kind: "account"; readonly accountId: string; readonly tokenId: string };

export function requireOperator(p: Principal): void {
  if (p.kind !== "operator") throw new PermissionDeniedError("this call needs the operator token");
}

/** The account the call acts for; account calls need one. */
export function actingAccount(p: Principal): string {
  if (p.kind === "account") return p.accountId;
  if (p.actingFor === undefined) {
    throw new PermissionDeniedError(
      "the operator token acts for an account only with x-iotfed-account metadata (iotfedctl --as-account)",
    );
  }
  return p.actingFor;
}
