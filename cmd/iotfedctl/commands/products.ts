import { Option, type Command } from "commander";
import { create } from "@bufbuild/protobuf";
import {
  CreateProductTopicResponseSchema,
  GetThingModelTslResponseSchema,
  GetThingScriptResponseSchema,
  QueryProductListResponseSchema,
  QueryProductResponseSchema,
  QueryProductTopicResponseSchema,
  UpdateProductTopicResponseSchema,
} from "../../../internal/gen/iotfed/v1/admin_pb.js";
import { act, choice, pagedList, readInput, topicId } from "../kit.js";
import { printJson, printTable } from "../output.js";
import { DATA_FORMATS, NODE_TYPES, OPERATIONS, SCRIPT_TYPES, productRow, showProduct, topicRows } from "../show.js";

/** `product …`, `topic …`, `tsl …`, `script …`: a product and what defines it. */
export function addProductCommands(program: Command): void {
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
  pagedList(program, product.command("list").description("list products (QueryProductList)"), {
    fetch: async (c, page) => {
      const p = await c.queryProductList(page);
      return { items: p.products, next: p.nextPageToken };
    },
    printJson: (products, nextPageToken) => printJson(QueryProductListResponseSchema, create(QueryProductListResponseSchema, { products, nextPageToken })),
    print: (items) => printTable(["PRODUCT KEY", "NAME", "NODE TYPE", "STATUS", "DEVICES", "OWNER"], items.map(productRow)),
  });
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
}
