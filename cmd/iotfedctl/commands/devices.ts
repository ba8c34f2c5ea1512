import { Option, type Command } from "commander";
import { create } from "@bufbuild/protobuf";
import {
  BatchRegisterDeviceResponseSchema,
  DevicePlacement,
  DeviceStatus,
  GetDeviceShadowResponseSchema,
  QueryDeviceDetailResponseSchema,
  QueryDevicePropResponseSchema,
  QueryDeviceProvisioningResponseSchema,
  QueryDeviceResponseSchema,
  RegisterDeviceResponseSchema,
} from "../../../internal/gen/iotfed/v1/admin_pb.js";
import { toCsv } from "../../../internal/jobs/index.js";
import { act, choice, commaList, pagedList, readInput, type PageOptions } from "../kit.js";
import { PartialFailure, UsageError, enumText, printFields, printJson, printTable, time } from "../output.js";
import { STATUSES, showDevice } from "../show.js";

/** Device names from a file: one per line, or a CSV whose first column is the name (a `deviceName` header is skipped). */
function namesFromFile(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.split(",")[0]!.trim())
    .filter((l, i) => l !== "" && !(i === 0 && /^device_?name$/i.test(l)));
}

/** `device …`: registration, detail, lists, enable/disable/delete, tags, shadow, provisioning. */
export function addDeviceCommands(program: Command): void {
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
        const deviceNames = o.names !== undefined ? commaList(o.names) : o.file !== undefined ? namesFromFile(readInput(o.file)) : [];
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
  pagedList(
    program,
    device
      .command("list <productKey>")
      .description("list a product's devices (QueryDevice)")
      .addOption(new Option("--status <status>", "only this status").choices(Object.keys(STATUSES)))
      .option("--prefix <text>", "only names starting with this", "")
      .option("--csv", "print the devices as CSV (never with DeviceSecrets)"),
    {
      fetch: async (c, page, o: PageOptions & { status?: string; prefix: string; csv?: boolean }, [pk]) => {
        const p = await c.queryDevice({
          ...page,
          productKey: pk!,
          status: o.status === undefined ? DeviceStatus.UNSPECIFIED : choice("--status", o.status, STATUSES),
          deviceNamePrefix: o.prefix,
        });
        return { items: p.devices, next: p.nextPageToken };
      },
      printJson: (devices, nextPageToken) => printJson(QueryDeviceResponseSchema, create(QueryDeviceResponseSchema, { devices, nextPageToken })),
      print: (items, o) => {
        if (o.csv) {
          process.stdout.write(
            toCsv(
              ["productKey", "deviceName", "status", "iotId", "createTime", "lastOnlineTime"],
              items.map((d) => [d.productKey, d.deviceName, enumText(DeviceStatus, d.status), d.iotId, time(d.createTimeMs), time(d.lastOnlineTimeMs)]),
            ),
          );
          return "data";
        }
        printTable(["DEVICE NAME", "STATUS", "IOT ID", "CREATED"], items.map((d) => [d.deviceName, enumText(DeviceStatus, d.status), d.iotId, time(d.createTimeMs)]));
      },
    },
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
}
