import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import {
  BatchRegisterDeviceResponseSchema,
  CreateAccountResponseSchema,
  CreateAccountTokenResponseSchema,
  CreateProductTopicResponseSchema,
  DataFormat,
  DevicePlacement,
  DeviceStatus,
  JobStatus,
  CreateDeviceDistributeJobResponseSchema,
  GetDeviceShadowResponseSchema,
  ListDeviceDistributeJobResponseSchema,
  ListDistributedDeviceResponseSchema,
  ListDistributedProductResponseSchema,
  QueryDeviceDistributeDetailResponseSchema,
  QueryDeviceDistributeJobResponseSchema,
  QueryDeviceProvisioningResponseSchema,
  type DistributeJob,
  GetThingModelTslResponseSchema,
  GetThingScriptResponseSchema,
  NodeType,
  PrincipalKind,
  ProductStatus,
  QueryAccountListResponseSchema,
  QueryAccountTokenListResponseSchema,
  QueryDeviceDetailResponseSchema,
  QueryDevicePropResponseSchema,
  QueryDeviceResponseSchema,
  QueryProductListResponseSchema,
  QueryProductResponseSchema,
  QueryProductTopicResponseSchema,
  RegisterDeviceResponseSchema,
  ScriptType,
  TopicOperation,
  UpdateProductTopicResponseSchema,
  WhoAmIResponseSchema,
  BackupResponseSchema,
  RequestAuthCodeResponseSchema,
  ListAuthCodesResponseSchema,
  GrantDeviceResponseSchema,
  ListGrantsResponseSchema,
  AddProductToPoolResponseSchema,
  ListPoolProductsResponseSchema,
  QueryPoolProductResponseSchema,
  ListAuditEventsResponseSchema,
  type Device,
  type Product,
  type TopicClass,
} from "../../internal/gen/iotfed/v1/admin_pb.js";
import { create } from "@bufbuild/protobuf";
import { connect, type AdminClient, type GlobalOptions } from "./client.js";
import { CsvError, DEVICE_LIST_TEMPLATE, parseDeviceList, toCsv } from "../../internal/jobs/index.js";
import { PartialFailure, UsageError, enumText, printFields, printJson, printTable, time } from "./output.js";

type Action = (client: AdminClient, json: boolean) => Promise<void>;

/** Wraps an action: connects with the global options, runs, closes. */
function act(program: Command, fn: (...args: never[]) => Action) {
  return async (...args: unknown[]): Promise<void> => {
    const g = program.opts<GlobalOptions>();
    const client = connect(g);
    try {
      await (fn as (...a: unknown[]) => Action)(...args)(client, g.json === true);
    } finally {
      client.close();
    }
  };
}

function choice<T>(flag: string, value: string, table: Record<string, T>): T {
  const v = table[value];
  if (v === undefined) throw new UsageError(`${flag} must be one of: ${Object.keys(table).join(", ")}`);
  return v;
}

function readInput(path: string): string {
  try {
    return readFileSync(path === "-" ? 0 : path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** Device names from a file: one per line, or a CSV whose first column is the name (a `deviceName` header is skipped). */
export function namesFromFile(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.split(",")[0]!.trim())
    .filter((l, i) => l !== "" && !(i === 0 && /^device_?name$/i.test(l)));
}

function productRow(p: Product): (string | bigint)[] {
  return [p.productKey, p.productName, enumText(NodeType, p.nodeType), enumText(ProductStatus, p.status), p.deviceCount, p.ownerInstanceId];
}
function showProduct(p: Product): void {
  printFields([
    ["productKey", p.productKey],
    ["productName", p.productName],
    ["nodeType", enumText(NodeType, p.nodeType)],
    ["dataFormat", enumText(DataFormat, p.dataFormat)],
    ["status", enumText(ProductStatus, p.status)],
    ["description", p.description],
    ["accountId", p.accountId],
    ["ownerInstanceId", p.ownerInstanceId],
    ["version", p.version],
    ["deviceCount", p.deviceCount],
    ["nearestCandidates", p.nearestCandidates.join(", ") || "-"],
    ["created", time(p.createTimeMs)],
    ["updated", time(p.updateTimeMs)],
  ]);
}
function showDevice(d: Device): void {
  const fields: [string, string | bigint][] = [
    ["productKey", d.productKey],
    ["deviceName", d.deviceName],
    ["iotId", d.iotId],
    ["status", enumText(DeviceStatus, d.status)],
    ["nickname", d.nickname],
    ["instanceId", d.instanceId],
    ["created", time(d.createTimeMs)],
    ["activated", time(d.activeTimeMs)],
    ["lastOnline", time(d.lastOnlineTimeMs)],
    ["placement", enumText(DevicePlacement, d.placement)],
    ["generation", d.generation],
    ["homeInstanceId", d.homeInstanceId],
  ];
  if (d.deviceSecret !== "") fields.push(["deviceSecret", d.deviceSecret]);
  printFields(fields);
}
function showJob(j: DistributeJob): void {
  printFields([
    ["jobId", j.jobId],
    ["type", j.jobType],
    ["status", enumText(JobStatus, j.status)],
    ["productKey", j.productKey],
    ["source", `${j.sourceRegionId}/${j.sourceInstanceId}`],
    ["strategy", j.strategy],
    j.strategy === "nearest" ? ["candidates", j.candidates.map((c) => `${c.regionId}/${c.instanceId}`).join(", ")] : ["target", `${j.targetRegionId}/${j.targetInstanceId}`],
    ["total", j.total],
    ["succeeded", j.succeeded],
    ["failed", j.failed],
    ["pending", j.pending],
    ["message", j.message || "-"],
    ["created", time(j.createTimeMs)],
    ["updated", time(j.updateTimeMs)],
  ]);
}
function topicRows(ts: TopicClass[]): void {
  printTable(
    ["ID", "TOPIC", "OPERATION", "DESCRIPTION"],
    ts.map((t) => [t.topicId, t.topic, enumText(TopicOperation, t.operation), t.description]),
  );
}

const NODE_TYPES = { device: NodeType.DEVICE, gateway: NodeType.GATEWAY };
const DATA_FORMATS = { "alink-json": DataFormat.ALINK_JSON, custom: DataFormat.CUSTOM };
const OPERATIONS = { pub: TopicOperation.PUB, sub: TopicOperation.SUB, all: TopicOperation.ALL };
const SCRIPT_TYPES = { javascript: ScriptType.JAVASCRIPT, python: ScriptType.PYTHON, php: ScriptType.PHP };
const STATUSES = { inactive: DeviceStatus.INACTIVE, online: DeviceStatus.ONLINE, offline: DeviceStatus.OFFLINE, disabled: DeviceStatus.DISABLED };

function pageOptions(cmd: Command): Command {
  return cmd
    .option("--page-size <n>", "items per page (default 50, at most 1000)", "0")
    .option("--page-token <token>", "continue from a previous page", "")
    .option("--all", "follow every page");
}

async function pages<T>(all: boolean | undefined, first: string, fetch: (token: string) => Promise<{ items: T[]; next: string }>): Promise<{ items: T[]; next: string }> {
  const items: T[] = [];
  let token = first;
  for (;;) {
    const page = await fetch(token);
    items.push(...page.items);
    if (!all || page.next === "") return { items, next: page.next };
    token = page.next;
  }
}

export function buildProgram(): Command {
  const program = new Command("iotfedctl")
    .description("Operator CLI for iotfedd: accounts, products, topic classes, thing models, scripts and devices.")
    .option("-s, --server <host:port>", "admin API address (env IOTFED_SERVER; default 127.0.0.1:50051)")
    .option("-t, --token <token>", "bearer token (env IOTFED_TOKEN)")
    .option("--token-file <file>", "read the token from a file (env IOTFED_TOKEN_FILE; default ./data/operator.token when present)")
    .option("-c, --config <file>", "YAML with server, token, tokenFile, ca, tls, asAccount (env IOTFED_CTL_CONFIG)")
    .option("--ca <file>", "PEM CA to verify the admin TLS certificate (implies --tls; env IOTFED_CA)")
    .option("--tls", "use TLS with the system's CAs")
    .option("-A, --as-account <accountId>", "with the operator token: act for this account (env IOTFED_ACCOUNT)")
    .option("--json", "print machine-readable JSON")
    .option("--timeout <seconds>", "per-call deadline", "30")
    .exitOverride()
    .showHelpAfterError()
    .addHelpText(
      "after",
      "\nExit codes: 0 ok, 1 refused by the daemon, 2 usage error, 3 not authenticated or not allowed,\n4 not found, 5 daemon unreachable or timed out, 6 batch finished with failed items.",
    );

  program
    .command("backup")
    .description("write an online, consistent copy of the daemon's store into its backup directory (operator; SQLite backup API)")
    .option("--name <file>", "file name in the backup directory (default iotfed-<instance>-<time>.db)", "")
    .action(
      act(program, (o: { name: string }) => async (c, json) => {
        const r = await c.backup({ name: o.name }, { deadlineMs: 3_600_000 });
        if (json) return printJson(BackupResponseSchema, r);
        printFields([
          ["path", r.path],
          ["bytes", r.bytes],
          ["schemaVersion", r.schemaVersion],
          ["lastRevision", r.lastRevision],
          ["durationMs", r.durationMs],
        ]);
      }),
    );
  program.command("whoami").description("show who the token is and which daemon answers").action(
    act(program, () => async (c, json) => {
      const r = await c.whoAmI({});
      if (json) return printJson(WhoAmIResponseSchema, r);
      printFields([
        ["kind", enumText(PrincipalKind, r.kind)],
        ["accountId", r.accountId || "-"],
        ["region", r.regionId],
        ["instance", r.instanceId],
      ]);
    }),
  );

  // accounts (operator)
  const account = program.command("account").description("accounts and their API tokens (operator token)");
  account.command("create <accountName>").description("create an account").action(
    act(program, (name: string) => async (c, json) => {
      const r = await c.createAccount({ accountName: name });
      if (json) return printJson(CreateAccountResponseSchema, r);
      printFields([["accountId", r.account!.accountId], ["accountName", r.account!.accountName]]);
    }),
  );
  pageOptions(account.command("list").description("list accounts")).action(
    act(program, (o: { pageSize: string; pageToken: string; all?: boolean }) => async (c, json) => {
      const r = await pages(o.all, o.pageToken, async (t) => {
        const p = await c.queryAccountList({ pageSize: Number(o.pageSize), pageToken: t });
        return { items: p.accounts, next: p.nextPageToken };
      });
      if (json) return printJson(QueryAccountListResponseSchema, create(QueryAccountListResponseSchema, { accounts: r.items, nextPageToken: r.next }));
      printTable(["ACCOUNT ID", "NAME", "CREATED"], r.items.map((a) => [a.accountId, a.accountName, time(a.createTimeMs)]));
      if (r.next !== "") process.stdout.write(`next page: --page-token ${r.next}\n`);
    }),
  );
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

  // products
  const product = program.command("product").description("products");
  product
    .command("create")
    .description("create a product (CreateProduct)")
    .requiredOption("-n, --name <name>", "product name, unique in the account")
    .addOption(new Option("--node-type <type>", "device or gateway").choices(Object.keys(NODE_TYPES)).default("device"))
    .addOption(new Option("--data-format <format>", "alink-json or custom").choices(Object.keys(DATA_FORMATS)).default("alink-json"))
    .option("-d, --description <text>", "free text", "")
    .action(
      act(program, (o: { name: string; nodeType: string; dataFormat: string; description: string }) => async (c, json) => {
        const r = await c.createProduct({
          productName: o.name,
          nodeType: choice("--node-type", o.nodeType, NODE_TYPES),
          dataFormat: choice("--data-format", o.dataFormat, DATA_FORMATS),
          description: o.description,
        });
        if (json) return printJson(QueryProductResponseSchema, create(QueryProductResponseSchema, { product: r.product! }));
        showProduct(r.product!);
      }),
    );
  product.command("get <productKey>").description("show a product (QueryProduct)").action(
    act(program, (pk: string) => async (c, json) => {
      const r = await c.queryProduct({ productKey: pk });
      if (json) return printJson(QueryProductResponseSchema, r);
      showProduct(r.product!);
    }),
  );
  pageOptions(product.command("list").description("list products (QueryProductList)")).action(
    act(program, (o: { pageSize: string; pageToken: string; all?: boolean }) => async (c, json) => {
      const r = await pages(o.all, o.pageToken, async (t) => {
        const p = await c.queryProductList({ pageSize: Number(o.pageSize), pageToken: t });
        return { items: p.products, next: p.nextPageToken };
      });
      if (json) return printJson(QueryProductListResponseSchema, create(QueryProductListResponseSchema, { products: r.items, nextPageToken: r.next }));
      printTable(["PRODUCT KEY", "NAME", "NODE TYPE", "STATUS", "DEVICES", "OWNER"], r.items.map(productRow));
      if (r.next !== "") process.stdout.write(`next page: --page-token ${r.next}\n`);
    }),
  );
  product
    .command("update <productKey>")
    .description("change name or description (UpdateProduct)")
    .option("-n, --name <name>", "new name")
    .option("-d, --description <text>", "new description")
    .action(
      act(program, (pk: string, o: { name?: string; description?: string }) => async (c, json) => {
        const r = await c.updateProduct({ productKey: pk, ...(o.name === undefined ? {} : { productName: o.name }), ...(o.description === undefined ? {} : { description: o.description }) });
        if (json) return printJson(QueryProductResponseSchema, create(QueryProductResponseSchema, { product: r.product! }));
        showProduct(r.product!);
      }),
    );
  product.command("delete <productKey>").description("delete a product without devices (DeleteProduct)").action(
    act(program, (pk: string) => async (c) => {
      await c.deleteProduct({ productKey: pk });
    }),
  );
  product.command("publish <productKey>").description("publish a product (ReleaseProduct)").action(
    act(program, (pk: string) => async (c, json) => {
      const r = await c.releaseProduct({ productKey: pk });
      if (json) return printJson(QueryProductResponseSchema, create(QueryProductResponseSchema, { product: r.product! }));
      showProduct(r.product!);
    }),
  );

  // topic classes
  const topic = program.command("topic").description("product topic classes");
  topic
    .command("create <productKey> <shortName>")
    .description("add a topic class /<pk>/${deviceName}/user/<shortName> (CreateProductTopic)")
    .addOption(new Option("-o, --operation <op>", "pub, sub or all").choices(Object.keys(OPERATIONS)).makeOptionMandatory())
    .option("-d, --description <text>", "free text", "")
    .action(
      act(program, (pk: string, short: string, o: { operation: string; description: string }) => async (c, json) => {
        const r = await c.createProductTopic({ productKey: pk, topicShortName: short, operation: choice("--operation", o.operation, OPERATIONS), description: o.description });
        if (json) return printJson(CreateProductTopicResponseSchema, r);
        topicRows([r.topic!]);
      }),
    );
  topic
    .command("update <topicId> <shortName>")
    .description("change a topic class (UpdateProductTopic)")
    .addOption(new Option("-o, --operation <op>", "pub, sub or all").choices(Object.keys(OPERATIONS)).makeOptionMandatory())
    .option("-d, --description <text>", "free text", "")
    .action(
      act(program, (id: string, short: string, o: { operation: string; description: string }) => async (c, json) => {
        const r = await c.updateProductTopic({ topicId: topicId(id), topicShortName: short, operation: choice("--operation", o.operation, OPERATIONS), description: o.description });
        if (json) return printJson(UpdateProductTopicResponseSchema, r);
        topicRows([r.topic!]);
      }),
    );
  topic.command("delete <topicId>").description("remove a topic class (DeleteProductTopic)").action(
    act(program, (id: string) => async (c) => {
      await c.deleteProductTopic({ topicId: topicId(id) });
    }),
  );
  topic.command("list <productKey>").description("list topic classes (QueryProductTopic)").action(
    act(program, (pk: string) => async (c, json) => {
      const r = await c.queryProductTopic({ productKey: pk });
      if (json) return printJson(QueryProductTopicResponseSchema, r);
      topicRows(r.topics);
    }),
  );

  // thing model
  const tsl = program.command("tsl").description("thing models (TSL JSON)");
  tsl.command("import <productKey> <file>").description("replace the thing model from a file, or - for stdin (ImportThingModelTsl)").action(
    act(program, (pk: string, file: string) => async (c) => {
      await c.importThingModelTsl({ productKey: pk, tslJson: readInput(file) });
    }),
  );
  tsl.command("get <productKey>").description("print the thing model (GetThingModelTsl)").action(
    act(program, (pk: string) => async (c, json) => {
      const r = await c.getThingModelTsl({ productKey: pk });
      if (json) return printJson(GetThingModelTslResponseSchema, r);
      process.stdout.write(JSON.stringify(JSON.parse(r.tslJson), null, 2) + "\n");
    }),
  );

  // scripts
  const script = program.command("script").description("data parsing scripts (stored, not run)");
  for (const mode of ["create", "update"] as const) {
    script
      .command(`${mode} <productKey> <file>`)
      .description(`${mode} the product's script from a file or - (${mode === "create" ? "CreateThingScript" : "UpdateThingScript"})`)
      .addOption(new Option("--type <lang>", "javascript, python or php").choices(Object.keys(SCRIPT_TYPES)).default("javascript"))
      .action(
        act(program, (pk: string, file: string, o: { type: string }) => async (c) => {
          const req = { productKey: pk, scriptType: choice("--type", o.type, SCRIPT_TYPES), scriptContent: readInput(file) };
          await (mode === "create" ? c.createThingScript(req) : c.updateThingScript(req));
        }),
      );
  }
  script.command("get <productKey>").description("print the script (GetThingScript)").action(
    act(program, (pk: string) => async (c, json) => {
      const r = await c.getThingScript({ productKey: pk });
      if (json) return printJson(GetThingScriptResponseSchema, r);
      process.stdout.write(r.scriptContent.endsWith("\n") ? r.scriptContent : r.scriptContent + "\n");
    }),
  );

  // devices
  const device = program.command("device").description("devices");
  device
    .command("register <productKey> [deviceName]")
    .description("register one device; the name is generated when omitted (RegisterDevice)")
    .option("--nickname <text>", "nickname", "")
    .action(
      act(program, (pk: string, dn: string | undefined, o: { nickname: string }) => async (c, json) => {
        const r = await c.registerDevice({ productKey: pk, deviceName: dn ?? "", nickname: o.nickname });
        if (json) return printJson(RegisterDeviceResponseSchema, r);
        showDevice(r.device!);
      }),
    );
  device
    .command("batch-register <productKey>")
    .description("register many devices at once, a result per device (BatchRegisterDevice)")
    .option("--names <list>", "comma-separated device names")
    .option("-f, --file <file>", "device names, one per line or first CSV column (- for stdin)")
    .option("--count <n>", "generate this many names")
    .action(
      act(program, (pk: string, o: { names?: string; file?: string; count?: string }) => async (c, json) => {
        const given = [o.names, o.file, o.count].filter((x) => x !== undefined).length;
        if (given !== 1) throw new UsageError("give exactly one of --names, --file or --count");
        const deviceNames = o.names !== undefined ? o.names.split(",").map((s) => s.trim()).filter(Boolean) : o.file !== undefined ? namesFromFile(readInput(o.file)) : [];
        const r = await c.batchRegisterDevice({ productKey: pk, deviceNames, count: o.count === undefined ? 0 : Number(o.count) });
        if (json) printJson(BatchRegisterDeviceResponseSchema, r);
        else {
          printTable(
            ["DEVICE NAME", "RESULT", "DEVICE SECRET / ERROR"],
            r.results.map((x) => [x.deviceName, x.success ? "ok" : "failed", x.success ? x.device!.deviceSecret : x.errorMessage]),
          );
          process.stdout.write(`${r.successCount} registered, ${r.failureCount} failed\n`);
        }
        if (r.failureCount > 0) throw new PartialFailure(`${r.failureCount} of ${r.results.length} devices failed`);
      }),
    );
  device
    .command("get [productKey] [deviceName]")
    .description("show a device (QueryDeviceDetail)")
    .option("--iot-id <iotId>", "find the device by IotId instead")
    .option("--secret", "include the DeviceSecret (owner only)")
    .action(
      act(program, (pk: string | undefined, dn: string | undefined, o: { iotId?: string; secret?: boolean }) => async (c, json) => {
        if (o.iotId === undefined && (pk === undefined || dn === undefined)) throw new UsageError("give <productKey> <deviceName> or --iot-id");
        const r = await c.queryDeviceDetail({ productKey: pk ?? "", deviceName: dn ?? "", iotId: o.iotId ?? "", includeSecret: o.secret === true });
        if (json) return printJson(QueryDeviceDetailResponseSchema, r);
        showDevice(r.device!);
      }),
    );
  pageOptions(
    device
      .command("list <productKey>")
      .description("list a product's devices (QueryDevice)")
      .addOption(new Option("--status <status>", "only this status").choices(Object.keys(STATUSES)))
      .option("--prefix <text>", "only names starting with this", "")
      .option("--csv", "print the devices as CSV (never with DeviceSecrets)"),
  ).action(
    act(program, (pk: string, o: { status?: string; prefix: string; pageSize: string; pageToken: string; all?: boolean; csv?: boolean }) => async (c, json) => {
      const r = await pages(o.all, o.pageToken, async (t) => {
        const p = await c.queryDevice({
          productKey: pk,
          pageSize: Number(o.pageSize),
          pageToken: t,
          status: o.status === undefined ? DeviceStatus.UNSPECIFIED : choice("--status", o.status, STATUSES),
          deviceNamePrefix: o.prefix,
        });
        return { items: p.devices, next: p.nextPageToken };
      });
      if (json) return printJson(QueryDeviceResponseSchema, create(QueryDeviceResponseSchema, { devices: r.items, nextPageToken: r.next }));
      if (o.csv) {
        process.stdout.write(
          toCsv(
            ["productKey", "deviceName", "status", "iotId", "createTime", "lastOnlineTime"],
            r.items.map((d) => [d.productKey, d.deviceName, enumText(DeviceStatus, d.status), d.iotId, time(d.createTimeMs), time(d.lastOnlineTimeMs)]),
          ),
        );
        return;
      }
      printTable(["DEVICE NAME", "STATUS", "IOT ID", "CREATED"], r.items.map((d) => [d.deviceName, enumText(DeviceStatus, d.status), d.iotId, time(d.createTimeMs)]));
      if (r.next !== "") process.stdout.write(`next page: --page-token ${r.next}\n`);
    }),
  );
  for (const [name, desc] of [
    ["delete", "delete a device (DeleteDevice)"],
    ["disable", "disable a device (DisableThing)"],
    ["enable", "enable a device (EnableThing)"],
  ] as const) {
    device.command(`${name} <productKey> <deviceName>`).description(desc).action(
      act(program, (pk: string, dn: string) => async (c) => {
        const req = { productKey: pk, deviceName: dn };
        await (name === "delete" ? c.deleteDevice(req) : name === "disable" ? c.disableThing(req) : c.enableThing(req));
      }),
    );
  }
  const tag = device.command("tag").description("device tags (SaveDeviceProp, QueryDeviceProp, DeleteDeviceProp)");
  tag.command("set <productKey> <deviceName> <key=value...>").description("set tags").action(
    act(program, (pk: string, dn: string, kvs: string[]) => async (c) => {
      const props = kvs.map((kv) => {
        const i = kv.indexOf("=");
        if (i <= 0) throw new UsageError(`tag "${kv}" must be key=value`);
        return { key: kv.slice(0, i), value: kv.slice(i + 1) };
      });
      await c.saveDeviceProp({ productKey: pk, deviceName: dn, props });
    }),
  );
  tag.command("list <productKey> <deviceName>").description("list tags").action(
    act(program, (pk: string, dn: string) => async (c, json) => {
      const r = await c.queryDeviceProp({ productKey: pk, deviceName: dn });
      if (json) return printJson(QueryDevicePropResponseSchema, r);
      printTable(["KEY", "VALUE"], r.props.map((p) => [p.key, p.value]));
    }),
  );
  tag.command("delete <productKey> <deviceName> <key>").description("delete a tag").action(
    act(program, (pk: string, dn: string, key: string) => async (c) => {
      await c.deleteDeviceProp({ productKey: pk, deviceName: dn, key });
    }),
  );
  const shadow = device.command("shadow").description("device shadow (runtime data: stays where it was written, R8)");
  shadow.command("get <productKey> <deviceName>").description("print the shadow (GetDeviceShadow)").action(
    act(program, (pk: string, dn: string) => async (c, json) => {
      const r = await c.getDeviceShadow({ productKey: pk, deviceName: dn });
      if (json) return printJson(GetDeviceShadowResponseSchema, r);
      process.stdout.write(`${r.shadowJson}\n`);
    }),
  );
  shadow.command("set <productKey> <deviceName> <json>").description("replace the shadow with a JSON object (UpdateDeviceShadow)").action(
    act(program, (pk: string, dn: string, doc: string) => async (c) => {
      await c.updateDeviceShadow({ productKey: pk, deviceName: dn, shadowJson: doc });
    }),
  );
  device.command("provisioning <productKey> <deviceName>").description("where the device is now and where it came from (QueryDeviceProvisioning)").action(
    act(program, (pk: string, dn: string) => async (c, json) => {
      const r = await c.queryDeviceProvisioning({ productKey: pk, deviceName: dn });
      if (json) return printJson(QueryDeviceProvisioningResponseSchema, r);
      printFields([
        ["holder", `${r.regionId}/${r.instanceId}`],
        ["generation", r.generation],
        ["placement", enumText(DevicePlacement, r.placement)],
        ["homeInstance", r.homeInstanceId],
        ["receivedFrom", r.receivedFromInstanceId || "-"],
        ["productOwner", r.productOwnerInstanceId],
      ]);
    }),
  );

  // distribution jobs
  const job = program.command("job").description("distribution jobs (same account; specified region+instance or nearest)");
  job.command("template").description("print the CSV template of a device list (at most 1,000 records by default, R1)").action(() => {
    process.stdout.write(DEVICE_LIST_TEMPLATE);
  });
  const targetOptions = (cmd: Command): Command =>
    cmd
      .option("--target-instance <instanceId>", "target instance (a configured peer)", "")
      .option("--target-region <regionId>", "target region (checked against the peer's)", "")
      .option("--target-account <accountId>", "receiving account of a cross-account distribution (R4)", "")
      .option("--auth-code <digits>", "the authorization code the receiving account got (R4)", "");
  targetOptions(job.command("create-product <productKey>").description("distribute the product alone (CreateProductDistributeJob, R2)")).action(
    act(program, (pk: string, o: { targetInstance: string; targetRegion: string; targetAccount: string; authCode: string }) => async (c, json) => {
      if (o.targetInstance === "" && (o.targetAccount === "" || o.targetRegion === "")) throw new UsageError("give --target-instance (or, cross-account to a legacy public instance, --target-region)");
      const r = await c.createProductDistributeJob({ productKey: pk, targetInstanceId: o.targetInstance, targetRegionId: o.targetRegion, targetAccountId: o.targetAccount, authCode: o.authCode });
      if (json) return printJson(CreateDeviceDistributeJobResponseSchema, create(CreateDeviceDistributeJobResponseSchema, { job: r.job! }));
      showJob(r.job!);
    }),
  );
  job
    .command("create <productKey>")
    .description("distribute the product and listed devices (CreateDeviceDistributeJob)")
    .option("--target-instance <instanceId>", "target instance (a configured peer; specified strategy)")
    .option("--target-region <regionId>", "target region (checked against the peer's)", "")
    .option("--strategy <strategy>", "specified, or nearest (R3: each device goes to the candidate nearest to it when it bootstraps)", "specified")
    .option("--candidate <region/instance>", "a nearest-strategy candidate, one per region (repeat the option)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--devices <list>", "comma-separated device names")
    .option("-f, --file <csv>", "device list CSV (see `job template`; - for stdin)")
    .option("--target-account <accountId>", "receiving account of a cross-account distribution (R4)", "")
    .option("--auth-code <digits>", "the authorization code the receiving account got (R4; see `authcode request`)", "")
    .action(
    act(program, (pk: string, o: { targetInstance?: string; targetRegion: string; strategy: string; candidate: string[]; devices?: string; file?: string; targetAccount: string; authCode: string }) => async (c, json) => {
      if ((o.devices === undefined) === (o.file === undefined)) throw new UsageError("give exactly one of --devices or --file");
      if (o.strategy === "nearest" ? o.candidate.length === 0 : o.targetInstance === undefined && (o.targetAccount === "" || o.targetRegion === "")) {
        throw new UsageError(o.strategy === "nearest" ? "the nearest strategy needs --candidate region/instance (one per region)" : "give --target-instance (or, cross-account to a legacy public instance, --target-region)");
      }
      const candidates = o.candidate.map((v) => {
        const slash = v.indexOf("/");
        if (slash <= 0 || slash === v.length - 1) throw new UsageError(`--candidate ${v}: must be region/instance`);
        return { regionId: v.slice(0, slash), instanceId: v.slice(slash + 1) };
      });
      let deviceNames: string[];
      try {
        deviceNames = o.devices !== undefined ? o.devices.split(",").map((s) => s.trim()).filter(Boolean) : parseDeviceList(readInput(o.file!), pk, 10000);
      } catch (e) {
        if (e instanceof CsvError) throw new UsageError(`${o.file}: ${e.message}`);
        throw e;
      }
      const r = await c.createDeviceDistributeJob({
        productKey: pk,
        targetInstanceId: o.targetInstance ?? "",
        targetRegionId: o.targetRegion,
        deviceNames,
        strategy: o.strategy,
        candidates,
        targetAccountId: o.targetAccount,
        authCode: o.authCode,
      });
      if (json) return printJson(CreateDeviceDistributeJobResponseSchema, r);
      showJob(r.job!);
    }),
  );
  job.command("get <jobId>").description("show a job (QueryDeviceDistributeJob)").action(
    act(program, (id: string) => async (c, json) => {
      const r = await c.queryDeviceDistributeJob({ jobId: id });
      if (json) return printJson(QueryDeviceDistributeJobResponseSchema, r);
      showJob(r.job!);
    }),
  );
  job
    .command("wait <jobId>")
    .description("wait until the job is completed or failed; exits 1 when it failed")
    .option("--max-wait <seconds>", "give up after this long (exit 5)", "600")
    .action(
      act(program, (id: string, o: { maxWait: string }) => async (c, json) => {
        const deadline = Date.now() + Number(o.maxWait) * 1000;
        for (;;) {
          const r = await c.queryDeviceDistributeJob({ jobId: id });
          const st = r.job!.status;
          if (st === JobStatus.COMPLETED || st === JobStatus.FAILED) {
            if (json) printJson(QueryDeviceDistributeJobResponseSchema, r);
            else showJob(r.job!);
            if (st === JobStatus.FAILED) throw new Error(`job ${id} failed: ${r.job!.message}`);
            return;
          }
          if (Date.now() > deadline) throw Object.assign(new Error(`job ${id} is still ${enumText(JobStatus, st)}`), { code: 4, details: `job ${id} is still ${enumText(JobStatus, st)} after ${o.maxWait} s` });
          await new Promise((res) => setTimeout(res, 200));
        }
      }),
    );
  pageOptions(
    job
      .command("list")
      .description("list jobs, newest first (ListDeviceDistributeJob)")
      .addOption(new Option("--status <status>", "only this status").choices(["initializing", "running", "completed", "failed"]))
      .option("--product <productKey>", "only this product", "")
      .option("--target <instanceId>", "only this target", ""),
  ).action(
    act(program, (o: { status?: string; product: string; target: string; pageSize: string; pageToken: string; all?: boolean }) => async (c, json) => {
      const statuses = { initializing: JobStatus.INITIALIZING, running: JobStatus.RUNNING, completed: JobStatus.COMPLETED, failed: JobStatus.FAILED };
      const r = await pages(o.all, o.pageToken, async (t) => {
        const p = await c.listDeviceDistributeJob({
          pageSize: Number(o.pageSize),
          pageToken: t,
          status: o.status === undefined ? JobStatus.UNSPECIFIED : choice("--status", o.status, statuses),
          productKey: o.product,
          targetInstanceId: o.target,
        });
        return { items: p.jobs, next: p.nextPageToken };
      });
      if (json) return printJson(ListDeviceDistributeJobResponseSchema, create(ListDeviceDistributeJobResponseSchema, { jobs: r.items, nextPageToken: r.next }));
      printTable(
        ["JOB ID", "TYPE", "STATUS", "PRODUCT", "TARGET", "OK", "FAILED", "PENDING", "CREATED"],
        r.items.map((j) => [j.jobId, j.jobType, enumText(JobStatus, j.status), j.productKey, `${j.targetRegionId}/${j.targetInstanceId}`, j.succeeded, j.failed, j.pending, time(j.createTimeMs)]),
      );
      if (r.next !== "") process.stdout.write(`next page: --page-token ${r.next}\n`);
    }),
  );
  job
    .command("detail <jobId>")
    .description("per-device results (QueryDeviceDistributeDetail); --csv to download")
    .addOption(new Option("--result <result>", "only pending, succeeded or failed").choices(["pending", "succeeded", "failed"]))
    .option("--csv", "print every result as CSV")
    .action(
      act(program, (id: string, o: { result?: string; csv?: boolean }) => async (c, json) => {
        const r = await pages(true, "", async (t) => {
          const p = await c.queryDeviceDistributeDetail({ jobId: id, pageSize: 1000, pageToken: t, result: o.result ?? "" });
          return { items: p.results, next: p.nextPageToken };
        });
        if (json) return printJson(QueryDeviceDistributeDetailResponseSchema, create(QueryDeviceDistributeDetailResponseSchema, { results: r.items }));
        const rows = r.items.map((x) => [x.deviceName, x.result, Number(x.generation), x.errorCode, x.errorMessage]);
        if (o.csv) process.stdout.write(toCsv(["deviceName", "result", "generation", "errorCode", "errorMessage"], rows));
        else printTable(["DEVICE NAME", "RESULT", "GENERATION", "CODE", "REASON"], rows);
      }),
    );
  job.command("retry <jobId>").description("run a failed job again (RetryDeviceDistributeJob)").action(
    act(program, (id: string) => async (c, json) => {
      const r = await c.retryDeviceDistributeJob({ jobId: id });
      if (json) return printJson(QueryDeviceDistributeJobResponseSchema, create(QueryDeviceDistributeJobResponseSchema, { job: r.job! }));
      showJob(r.job!);
    }),
  );
  const distributed = program.command("distributed").description("what was distributed away from this instance");
  pageOptions(
    distributed
      .command("devices <productKey>")
      .description("devices of a product distributed away (ListDistributedDevice)")
      .option("--target <instanceId>", "only those now at this instance", ""),
  ).action(
    act(program, (pk: string, o: { target: string; pageSize: string; pageToken: string; all?: boolean }) => async (c, json) => {
      const r = await pages(o.all, o.pageToken, async (t) => {
        const p = await c.listDistributedDevice({ productKey: pk, targetInstanceId: o.target, pageSize: Number(o.pageSize), pageToken: t });
        return { items: p.devices, next: p.nextPageToken };
      });
      if (json) return printJson(ListDistributedDeviceResponseSchema, create(ListDistributedDeviceResponseSchema, { devices: r.items, nextPageToken: r.next }));
      printTable(["DEVICE NAME", "NOW AT", "GENERATION"], r.items.map((d) => [d.deviceName, `${d.targetRegionId}/${d.targetInstanceId}`, d.generation]));
    }),
  );
  pageOptions(distributed.command("products").description("products with copies elsewhere (ListDistributedProduct)")).action(
    act(program, (o: { pageSize: string; pageToken: string; all?: boolean }) => async (c, json) => {
      const r = await pages(o.all, o.pageToken, async (t) => {
        const p = await c.listDistributedProduct({ pageSize: Number(o.pageSize), pageToken: t });
        return { items: p.products, next: p.nextPageToken };
      });
      if (json) return printJson(ListDistributedProductResponseSchema, create(ListDistributedProductResponseSchema, { products: r.items, nextPageToken: r.next }));
      printTable(["PRODUCT KEY", "NAME", "COPY AT", "SYNCED", "VERSION"], r.items.map((p) => [p.productKey, p.productName, `${p.targetRegionId}/${p.targetInstanceId}`, p.syncedVersion, p.version]));
    }),
  );
  addCrossAccountCommands(program);
  return program;
}

/** Authorization codes (R4), grants (R14-R18), the public pool (R17) and the audit log. */
function addCrossAccountCommands(program: Command): void {
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
  pageOptions(authcode.command("list").description("codes issued to your account at this instance, newest first (ListAuthCodes)")).action(
    act(program, (o: { pageSize: string; pageToken: string; all?: boolean }) => async (c, json) => {
      const r = await pages(o.all, o.pageToken, async (t) => {
        const p = await c.listAuthCodes({ pageSize: Number(o.pageSize), pageToken: t });
        return { items: p.codes, next: p.nextPageToken };
      });
      if (json) return printJson(ListAuthCodesResponseSchema, create(ListAuthCodesResponseSchema, { codes: r.items, nextPageToken: r.next }));
      printTable(
        ["CODE ID", "CODE", "FROM ACCOUNT", "STATE", "WRONG TRIES", "EXPIRES", "USED BY JOB"],
        r.items.map((x) => [x.codeId, x.code || "-", `${x.requesterAccountName} (${x.requesterAccountId})`, x.state, x.failedTries, time(x.expireTimeMs), x.usedByJobId || "-"]),
      );
    }),
  );

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
  pageOptions(
    grant
      .command("list")
      .description("grants you gave, or with --received the grants you got (ListGrants)")
      .option("--received", "grants made to your account")
      .option("--product <productKey>", "only this product", ""),
  ).action(
    act(program, (o: { received?: boolean; product: string; pageSize: string; pageToken: string; all?: boolean }) => async (c, json) => {
      const r = await pages(o.all, o.pageToken, async (t) => {
        const p = await c.listGrants({ side: o.received ? "received" : "given", productKey: o.product, pageSize: Number(o.pageSize), pageToken: t });
        return { items: p.grants, next: p.nextPageToken };
      });
      if (json) return printJson(ListGrantsResponseSchema, create(ListGrantsResponseSchema, { grants: r.items, nextPageToken: r.next }));
      printTable(
        ["GRANT ID", "KIND", "PRODUCT", "DEVICE", "GRANTOR", "GRANTEE", "CREATED"],
        r.items.map((g) => [g.grantId, g.kind, g.productKey, g.deviceName || "-", g.grantorAccountId, g.granteeAccountId, time(g.createTimeMs)]),
      );
    }),
  );

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
  pageOptions(pool.command("list").description("list pool products (ListPoolProducts)")).action(
    act(program, (o: { pageSize: string; pageToken: string; all?: boolean }) => async (c, json) => {
      const r = await pages(o.all, o.pageToken, async (t) => {
        const p = await c.listPoolProducts({ pageSize: Number(o.pageSize), pageToken: t });
        return { items: p.products, next: p.nextPageToken };
      });
      if (json) return printJson(ListPoolProductsResponseSchema, create(ListPoolProductsResponseSchema, { products: r.items, nextPageToken: r.next }));
      printTable(["PRODUCT KEY", "NAME", "OWNER", "HOME", "VERSION", "IN POOL SINCE"], r.items.map((p) => [p.productKey, p.productName, p.accountName, p.homeInstanceId, p.version, time(p.poolTimeMs)]));
    }),
  );
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

  pageOptions(
    program
      .command("audit")
      .description("cross-account actions recorded here, newest first (ListAuditEvents): yours, or all with the operator token")
      .option("--action <action>", "only this action, e.g. authcode.used", ""),
  ).action(
    act(program, (o: { action: string; pageSize: string; pageToken: string; all?: boolean }) => async (c, json) => {
      const r = await pages(o.all, o.pageToken, async (t) => {
        const p = await c.listAuditEvents({ action: o.action, pageSize: Number(o.pageSize), pageToken: t });
        return { items: p.events, next: p.nextPageToken };
      });
      if (json) return printJson(ListAuditEventsResponseSchema, create(ListAuditEventsResponseSchema, { events: r.items, nextPageToken: r.next }));
      printTable(
        ["TIME", "ACTION", "RESULT", "ACTOR", "FROM", "ACCOUNT", "OTHER", "PRODUCT/DEVICE", "SUBJECT", "DETAIL"],
        r.items.map((e) => [time(e.timeMs), e.action, e.result, `${e.actorKind}${e.actorAccountId ? ":" + e.actorAccountId : ""}`, e.actorAddress, e.accountId, e.otherAccountId || "-", [e.productKey, e.deviceName].filter(Boolean).join("/") || "-", e.subjectId || "-", e.detail]),
      );
    }),
  );
}

function topicId(s: string): bigint {
  if (!/^[1-9][0-9]{0,15}$/.test(s)) throw new UsageError("<topicId> must be a positive number");
  return BigInt(s);
}
