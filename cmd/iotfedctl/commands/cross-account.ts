import type { Command } from "commander";
import { create } from "@bufbuild/protobuf";
import {
  AddProductToPoolResponseSchema,
  GrantDeviceResponseSchema,
  ListAuditEventsResponseSchema,
  ListAuthCodesResponseSchema,
  ListGrantsResponseSchema,
  ListPoolProductsResponseSchema,
  QueryPoolProductResponseSchema,
  RequestAuthCodeResponseSchema,
} from "../../../internal/gen/iotfed/v1/admin_pb.js";
import { act, pagedList, type PageOptions } from "../kit.js";
import { UsageError, printFields, printJson, printTable, time } from "../output.js";
import { topicRows } from "../show.js";

/** `authcode …`: authorization codes for cross-account distribution (R4). */
export function addAuthCodeCommands(program: Command): void {
  const authcode = program.command("authcode").description("authorization codes for cross-account distribution (R4)");
  authcode
    .command("request")
    .description("ask the target instance to send a code to the receiving account (RequestAuthCode); you never see the code")
    .option("--target-account <accountId>", "receiving account id")
    .option("--target-account-name <name>", "receiving account name")
    .requiredOption("--target-region <regionId>", "target region")
    .option("--target-instance <instanceId>", "target instance (empty: the region's legacy public instance, R4)", "")
    .action(
      act(program, (o: { targetAccount?: string; targetAccountName?: string; targetRegion: string; targetInstance: string }) => async (c, json) => {
        if ((o.targetAccount === undefined) === (o.targetAccountName === undefined)) throw new UsageError("give exactly one of --target-account or --target-account-name");
        const r = await c.requestAuthCode({ targetAccountId: o.targetAccount ?? "", targetAccountName: o.targetAccountName ?? "", targetRegionId: o.targetRegion, targetInstanceId: o.targetInstance });
        if (json) return printJson(RequestAuthCodeResponseSchema, r);
        printFields([
          ["codeId", r.codeId],
          ["targetAccount", r.targetAccountId],
          ["target", `${r.targetRegionId}/${r.targetInstanceId}`],
          ["expires", time(r.expireTimeMs)],
        ]);
        process.stdout.write("the code was delivered to the receiving account; ask its owner for the six digits\n");
      }),
    );
  pagedList(program, authcode.command("list").description("codes issued to your account at this instance, newest first (ListAuthCodes)"), {
    fetch: async (c, page) => {
      const p = await c.listAuthCodes(page);
      return { items: p.codes, next: p.nextPageToken };
    },
    printJson: (codes, nextPageToken) => printJson(ListAuthCodesResponseSchema, create(ListAuthCodesResponseSchema, { codes, nextPageToken })),
    print: (items) =>
      printTable(
        ["CODE ID", "CODE", "FROM ACCOUNT", "AT INSTANCE", "STATE", "WRONG TRIES", "EXPIRES", "USED BY JOB"],
        items.map((x) => [x.codeId, x.code || "-", `${x.requesterAccountName} (${x.requesterAccountId})`, x.requesterInstanceId || "-", x.state, x.failedTries, time(x.expireTimeMs), x.usedByJobId || "-"]),
      ),
  });
}

/** `grant …`: device authorization (R14–R18). */
export function addGrantCommands(program: Command): void {
  const grant = program.command("grant").description("device authorization (R14-R18): another account sees and uses a device you keep");
  grant
    .command("device <productKey> <deviceName>")
    .description("grant a device, and its product, to another account (GrantDevice)")
    .option("--to <accountId>", "grantee account id")
    .option("--to-name <name>", "grantee account name")
    .action(
      act(program, (pk: string, dn: string, o: { to?: string; toName?: string }) => async (c, json) => {
        if ((o.to === undefined) === (o.toName === undefined)) throw new UsageError("give exactly one of --to or --to-name");
        const r = await c.grantDevice({ productKey: pk, deviceName: dn, granteeAccountId: o.to ?? "", granteeAccountName: o.toName ?? "" });
        if (json) return printJson(GrantDeviceResponseSchema, r);
        printFields([
          ["deviceGrant", r.deviceGrant!.grantId],
          ["productGrant", r.productGrant!.grantId],
          ["grantee", r.deviceGrant!.granteeAccountId],
        ]);
      }),
    );
  grant.command("revoke <grantId>").description("revoke a grant (RevokeGrant; a product grant only after its device grants, R16)").action(
    act(program, (id: string) => async (c) => {
      await c.revokeGrant({ grantId: id });
    }),
  );
  pagedList(
    program,
    grant
      .command("list")
      .description("grants you gave, or with --received the grants you got (ListGrants)")
      .option("--received", "grants made to your account")
      .option("--product <productKey>", "only this product", ""),
    {
      fetch: async (c, page, o: PageOptions & { received?: boolean; product: string }) => {
        const p = await c.listGrants({ ...page, side: o.received ? "received" : "given", productKey: o.product });
        return { items: p.grants, next: p.nextPageToken };
      },
      printJson: (grants, nextPageToken) => printJson(ListGrantsResponseSchema, create(ListGrantsResponseSchema, { grants, nextPageToken })),
      print: (items) =>
        printTable(
          ["GRANT ID", "KIND", "PRODUCT", "DEVICE", "GRANTOR", "GRANTEE", "CREATED"],
          items.map((g) => [g.grantId, g.kind, g.productKey, g.deviceName || "-", g.grantorAccountId, g.granteeAccountId, time(g.createTimeMs)]),
        ),
    },
  );
}

/** `pool …`: the public product pool (R17). */
export function addPoolCommands(program: Command): void {
  const pool = program.command("pool").description("the public product pool (R17)");
  pool
    .command("add <productKey>")
    .description("put a published product in the public pool; this cannot be undone (AddProductToPool)")
    .option("--yes-irreversible", "confirm that the product stays in the pool for good")
    .action(
      act(program, (pk: string, o: { yesIrreversible?: boolean }) => async (c, json) => {
        if (!o.yesIrreversible) throw new UsageError("a product in the public pool stays there (R17): confirm with --yes-irreversible");
        const r = await c.addProductToPool({ productKey: pk, confirmIrreversible: true });
        if (json) return printJson(AddProductToPoolResponseSchema, r);
        process.stdout.write(`${r.product!.productKey} is in the public pool\n`);
      }),
    );
  pagedList(program, pool.command("list").description("list pool products (ListPoolProducts)"), {
    fetch: async (c, page) => {
      const p = await c.listPoolProducts(page);
      return { items: p.products, next: p.nextPageToken };
    },
    printJson: (products, nextPageToken) => printJson(ListPoolProductsResponseSchema, create(ListPoolProductsResponseSchema, { products, nextPageToken })),
    print: (items) => printTable(["PRODUCT KEY", "NAME", "OWNER", "HOME", "VERSION", "IN POOL SINCE"], items.map((p) => [p.productKey, p.productName, p.accountName, p.homeInstanceId, p.version, time(p.poolTimeMs)])),
  });
  pool.command("get <productKey>").description("show a pool product with its topic classes and thing model (QueryPoolProduct)").action(
    act(program, (pk: string) => async (c, json) => {
      const r = await c.queryPoolProduct({ productKey: pk });
      if (json) return printJson(QueryPoolProductResponseSchema, r);
      const p = r.product!;
      printFields([
        ["productKey", p.productKey],
        ["name", p.productName],
        ["owner", `${p.accountName} (${p.accountId})`],
        ["home", p.homeInstanceId],
        ["version", p.version],
        ["description", p.description],
      ]);
      topicRows(p.topics);
    }),
  );
}

/** `audit`: the cross-account actions recorded at this daemon. */
export function addAuditCommands(program: Command): void {
  pagedList(
    program,
    program
      .command("audit")
      .description("cross-account actions recorded here, newest first (ListAuditEvents): yours, or all with the operator token")
      .option("--action <action>", "only this action, e.g. authcode.used", ""),
    {
      fetch: async (c, page, o: PageOptions & { action: string }) => {
        const p = await c.listAuditEvents({ ...page, action: o.action });
        return { items: p.events, next: p.nextPageToken };
      },
      printJson: (events, nextPageToken) => printJson(ListAuditEventsResponseSchema, create(ListAuditEventsResponseSchema, { events, nextPageToken })),
      print: (items) =>
        printTable(
          ["TIME", "ACTION", "RESULT", "ACTOR", "FROM", "ACCOUNT", "OTHER", "PRODUCT/DEVICE", "SUBJECT", "DETAIL"],
          items.map((e) => [time(e.timeMs), e.action, e.result, `${e.actorKind}${e.actorAccountId ? ":" + e.actorAccountId : ""}`, e.actorAddress, e.accountId, e.otherAccountId || "-", [e.productKey, e.deviceName].filter(Boolean).join("/") || "-", e.subjectId || "-", e.detail]),
        ),
    },
  );
}
