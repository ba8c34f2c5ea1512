import type { Command } from "commander";
import { create } from "@bufbuild/protobuf";
import { CreateAccountResponseSchema, CreateAccountTokenResponseSchema, QueryAccountListResponseSchema, QueryAccountTokenListResponseSchema } from "../../../internal/gen/iotfed/v1/admin_pb.js";
import { act, pagedList } from "../kit.js";
import { printFields, printJson, printTable, time } from "../output.js";

/** `account …`: accounts and their API tokens (operator token). */
export function addAccountCommands(program: Command): void {
  const account = program.command("account").description("accounts and their API tokens (operator token)");
  account.command("create <accountName>").description("create an account").action(
    act(program, (name: string) => async (c, json) => {
      const r = await c.createAccount({ accountName: name });
      if (json) return printJson(CreateAccountResponseSchema, r);
      printFields([["accountId", r.account!.accountId], ["accountName", r.account!.accountName]]);
    }),
  );
  pagedList(program, account.command("list").description("list accounts"), {
    fetch: async (c, page) => {
      const p = await c.queryAccountList(page);
      return { items: p.accounts, next: p.nextPageToken };
    },
    printJson: (accounts, nextPageToken) => printJson(QueryAccountListResponseSchema, create(QueryAccountListResponseSchema, { accounts, nextPageToken })),
    print: (items) => printTable(["ACCOUNT ID", "NAME", "CREATED"], items.map((a) => [a.accountId, a.accountName, time(a.createTimeMs)])),
  });
  const token = account.command("token").description("account API tokens");
  token
    .command("create <accountId>")
    .description("issue a token (printed once; store it safely)")
    .option("-d, --description <text>", "what the token is for", "")
    .action(
      act(program, (accountId: string, o: { description: string }) => async (c, json) => {
        const r = await c.createAccountToken({ accountId, description: o.description });
        if (json) return printJson(CreateAccountTokenResponseSchema, r);
        printFields([["tokenId", r.token!.tokenId], ["accountId", r.token!.accountId], ["token", r.secret]]);
      }),
    );
  token.command("list <accountId>").description("list an account's tokens (without values)").action(
    act(program, (accountId: string) => async (c, json) => {
      const r = await c.queryAccountTokenList({ accountId });
      if (json) return printJson(QueryAccountTokenListResponseSchema, r);
      printTable(
        ["TOKEN ID", "DESCRIPTION", "CREATED", "REVOKED"],
        r.tokens.map((t) => [t.tokenId, t.description, time(t.createTimeMs), time(t.revokeTimeMs)]),
      );
    }),
  );
  token.command("revoke <tokenId>").description("revoke a token").action(
    act(program, (tokenId: string) => async (c) => {
      await c.revokeAccountToken({ tokenId });
    }),
  );
}
