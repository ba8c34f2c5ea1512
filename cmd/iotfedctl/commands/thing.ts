import type { Command } from "commander";
import { create } from "@bufbuild/protobuf";
import {
  BatchAddDeviceGroupRelationsResponseSchema,
  BatchAddThingTopoResponseSchema,
  CreateDeviceGroupResponseSchema,
  GetThingTopoResponseSchema,
  InvokeThingServiceResponseSchema,
  QueryDeviceEventDataResponseSchema,
  QueryDeviceGroupByDeviceResponseSchema,
  QueryDeviceGroupListResponseSchema,
  QueryDeviceListByDeviceGroupResponseSchema,
  QueryDevicePropertyDataResponseSchema,
  QueryDevicePropertyStatusResponseSchema,
  RemoveThingTopoResponseSchema,
  SetDevicePropertyResponseSchema,
  type DeviceGroup,
} from "../../../internal/gen/iotfed/v1/admin_pb.js";
import { act, pagedList, type PageOptions } from "../kit.js";
import { PartialFailure, UsageError, printFields, printJson, printTable, time } from "../output.js";

/** `productKey/deviceName` arguments (a ProductKey holds no `/`; the rest is the DeviceName). */
function deviceRefs(args: string[]): { productKey: string; deviceName: string }[] {
  return args.map((a) => {
    const slash = a.indexOf("/");
    if (slash <= 0 || slash === a.length - 1) throw new UsageError(`${a}: must be productKey/deviceName`);
    return { productKey: a.slice(0, slash), deviceName: a.slice(slash + 1) };
  });
}

/** A time option: milliseconds since the epoch, or an ISO 8601 time. */
function timeOption(v: string | undefined, flag: string): bigint {
  if (v === undefined) return 0n;
  if (/^\d+$/.test(v)) return BigInt(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new UsageError(`${flag} ${v}: give milliseconds or an ISO 8601 time`);
  return BigInt(t);
}

const showGroups = (groups: DeviceGroup[]): void =>
  printTable(["GROUP ID", "NAME", "DEVICES", "CREATED", "DESCRIPTION"], groups.map((g) => [g.groupId, g.groupName, g.deviceCount, time(g.createTimeMs), g.groupDesc || "-"]));

/** `thing …`: devices' thing-model data (docs/guides/thing-model.md), property sets and service calls. */
export function addThingCommands(program: Command): void {
  const thing = program.command("thing").description("thing-model data of devices: properties, history, events; set properties, call services");
  thing.command("props <productKey> <deviceName>").description("each property of the thing model with its latest value (QueryDevicePropertyStatus)").action(
    act(program, (pk: string, dn: string) => async (c, json) => {
      const r = await c.queryDevicePropertyStatus({ productKey: pk, deviceName: dn });
      if (json) return printJson(QueryDevicePropertyStatusResponseSchema, r);
      printTable(["IDENTIFIER", "NAME", "TYPE", "ACCESS", "VALUE", "TIME"], r.properties.map((p) => [p.identifier, p.name, p.dataType, p.accessMode, p.valueJson || "-", p.timeMs === 0n ? "-" : time(p.timeMs)]));
    }),
  );
  type Range = PageOptions & { from?: string; to?: string; asc?: boolean };
  const ranged = (cmd: Command): Command =>
    cmd.option("--from <time>", "start (milliseconds or ISO 8601; default: the beginning)").option("--to <time>", "end (default: now)").option("--asc", "oldest first (default: newest first)");
  pagedList<Range, { valueJson: string; timeMs: bigint }>(program, ranged(thing.command("history <productKey> <deviceName> <identifier>").description("a property's values in a time range (QueryDevicePropertyData)")), {
    fetch: async (c, page, o, [pk, dn, id]) => {
      const r = await c.queryDevicePropertyData({ productKey: pk!, deviceName: dn!, identifier: id!, startTimeMs: timeOption(o.from, "--from"), endTimeMs: timeOption(o.to, "--to"), asc: o.asc === true, ...page });
      return { items: r.points, next: r.nextPageToken };
    },
    printJson: (points, nextPageToken) => printJson(QueryDevicePropertyDataResponseSchema, create(QueryDevicePropertyDataResponseSchema, { points, nextPageToken })),
    print: (items) => printTable(["TIME", "VALUE"], items.map((p) => [time(p.timeMs), p.valueJson])),
  });
  pagedList<Range & { identifier: string }, { identifier: string; eventType: string; outputJson: string; timeMs: bigint }>(
    program,
    ranged(thing.command("events <productKey> <deviceName>").description("events in a time range (QueryDeviceEventData)").option("--identifier <id>", "one event only", "")),
    {
      fetch: async (c, page, o, [pk, dn]) => {
        const r = await c.queryDeviceEventData({ productKey: pk!, deviceName: dn!, identifier: o.identifier, startTimeMs: timeOption(o.from, "--from"), endTimeMs: timeOption(o.to, "--to"), asc: o.asc === true, ...page });
        return { items: r.events, next: r.nextPageToken };
      },
      printJson: (events, nextPageToken) => printJson(QueryDeviceEventDataResponseSchema, create(QueryDeviceEventDataResponseSchema, { events, nextPageToken })),
      print: (items) => printTable(["TIME", "EVENT", "TYPE", "OUTPUT"], items.map((e) => [time(e.timeMs), e.identifier, e.eventType, e.outputJson])),
    },
  );
  const reply = (r: { messageId: string; code: number; message: string }, data?: string): void => {
    printFields([["messageId", r.messageId], ["code", r.code], ["message", r.message || "-"], ...(data === undefined ? [] : ([["data", data]] as [string, string][]))]);
    if (r.code !== 200) throw new PartialFailure(`the device answered ${r.code}`);
  };
  thing.command("set <productKey> <deviceName> <json>").description('set read-write properties of an online device, e.g. \'{"power":1}\' (SetDeviceProperty); exit 6 when the device refuses').action(
    act(program, (pk: string, dn: string, items: string) => async (c, json) => {
      const r = await c.setDeviceProperty({ productKey: pk, deviceName: dn, itemsJson: items });
      if (json) printJson(SetDevicePropertyResponseSchema, r);
      else reply(r);
    }),
  );
  thing.command("call <productKey> <deviceName> <identifier> [json]").description("call a service of the thing model on an online device (InvokeThingService); exit 6 when the device refuses").action(
    act(program, (pk: string, dn: string, id: string, args: string | undefined) => async (c, json) => {
      const r = await c.invokeThingService({ productKey: pk, deviceName: dn, identifier: id, argsJson: args ?? "{}" });
      if (json) printJson(InvokeThingServiceResponseSchema, r);
      else reply(r, r.dataJson);
    }),
  );

  const group = program.command("group").description("device groups at this instance (a device leaving it leaves its groups, R8)");
  group.command("create <name>").description("create a group (CreateDeviceGroup)").option("-d, --description <text>", "description", "").action(
    act(program, (name: string, o: { description: string }) => async (c, json) => {
      const r = await c.createDeviceGroup({ groupName: name, groupDesc: o.description });
      if (json) return printJson(CreateDeviceGroupResponseSchema, r);
      showGroups([r.group!]);
    }),
  );
  group.command("delete <groupId>").description("delete a group; its devices stay (DeleteDeviceGroup)").action(
    act(program, (id: string) => async (c) => {
      await c.deleteDeviceGroup({ groupId: id });
    }),
  );
  pagedList<PageOptions, DeviceGroup>(program, group.command("list").description("the account's groups (QueryDeviceGroupList)"), {
    fetch: async (c, page) => {
      const r = await c.queryDeviceGroupList(page);
      return { items: r.groups, next: r.nextPageToken };
    },
    printJson: (groups, nextPageToken) => printJson(QueryDeviceGroupListResponseSchema, create(QueryDeviceGroupListResponseSchema, { groups, nextPageToken })),
    print: showGroups,
  });
  group.command("add <groupId> <devices...>").description("add devices (productKey/deviceName) held here (BatchAddDeviceGroupRelations)").action(
    act(program, (id: string, devices: string[]) => async (c, json) => {
      const r = await c.batchAddDeviceGroupRelations({ groupId: id, devices: deviceRefs(devices) });
      if (json) return printJson(BatchAddDeviceGroupRelationsResponseSchema, r);
      process.stdout.write(`${r.added} added\n`);
    }),
  );
  group.command("remove <groupId> <devices...>").description("remove devices (BatchDeleteDeviceGroupRelations)").action(
    act(program, (id: string, devices: string[]) => async (c) => {
      const r = await c.batchDeleteDeviceGroupRelations({ groupId: id, devices: deviceRefs(devices) });
      process.stdout.write(`${r.removed} removed\n`);
    }),
  );
  pagedList<PageOptions, { productKey: string; deviceName: string }>(program, group.command("devices <groupId>").description("a group's devices (QueryDeviceListByDeviceGroup)"), {
    fetch: async (c, page, _o, [id]) => {
      const r = await c.queryDeviceListByDeviceGroup({ groupId: id!, ...page });
      return { items: r.devices, next: r.nextPageToken };
    },
    printJson: (devices, nextPageToken) => printJson(QueryDeviceListByDeviceGroupResponseSchema, create(QueryDeviceListByDeviceGroupResponseSchema, { devices, nextPageToken })),
    print: (items) => printTable(["PRODUCT KEY", "DEVICE NAME"], items.map((d) => [d.productKey, d.deviceName])),
  });
  group.command("of <productKey> <deviceName>").description("the groups a device is in (QueryDeviceGroupByDevice)").action(
    act(program, (pk: string, dn: string) => async (c, json) => {
      const r = await c.queryDeviceGroupByDevice({ productKey: pk, deviceName: dn });
      if (json) return printJson(QueryDeviceGroupByDeviceResponseSchema, r);
      showGroups(r.groups);
    }),
  );

  const topo = program.command("topo").description("gateway topology at this instance (a device leaving it leaves its topology, R8)");
  topo.command("list <productKey> <deviceName>").description("a gateway's sub-devices (GetThingTopo)").action(
    act(program, (pk: string, dn: string) => async (c, json) => {
      const r = await c.getThingTopo({ productKey: pk, deviceName: dn });
      if (json) return printJson(GetThingTopoResponseSchema, r);
      printTable(["PRODUCT KEY", "DEVICE NAME"], r.subDevices.map((d) => [d.productKey, d.deviceName]));
    }),
  );
  topo.command("add <productKey> <deviceName> <subDevices...>").description("add sub-devices (productKey/deviceName) to a gateway (BatchAddThingTopo)").action(
    act(program, (pk: string, dn: string, subs: string[]) => async (c, json) => {
      const r = await c.batchAddThingTopo({ productKey: pk, deviceName: dn, subDevices: deviceRefs(subs) });
      if (json) return printJson(BatchAddThingTopoResponseSchema, r);
      process.stdout.write(`${r.added} added\n`);
    }),
  );
  topo.command("remove <productKey> <deviceName> <subDevices...>").description("remove sub-devices from a gateway (RemoveThingTopo)").action(
    act(program, (pk: string, dn: string, subs: string[]) => async (c, json) => {
      const r = await c.removeThingTopo({ productKey: pk, deviceName: dn, subDevices: deviceRefs(subs) });
      if (json) return printJson(RemoveThingTopoResponseSchema, r);
      process.stdout.write(`${r.removed} removed\n`);
    }),
  );
}
