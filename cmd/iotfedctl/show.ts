import {
  DataFormat,
  DevicePlacement,
  DeviceStatus,
  JobStatus,
  NodeType,
  ProductStatus,
  ScriptType,
  TopicOperation,
  type Device,
  type DistributeJob,
  type Product,
  type TopicClass,
} from "../../internal/gen/iotfed/v1/admin_pb.js";
import { enumText, printFields, printTable, time } from "./output.js";

/** How resources print for people (--json prints the messages instead). */
export function productRow(p: Product): (string | bigint)[] {
  return [p.productKey, p.productName, enumText(NodeType, p.nodeType), enumText(ProductStatus, p.status), p.deviceCount, p.ownerInstanceId];
}
export function showProduct(p: Product): void {
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
export function showDevice(d: Device): void {
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
export function showJob(j: DistributeJob): void {
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
export function topicRows(ts: TopicClass[]): void {
  printTable(
    ["ID", "TOPIC", "OPERATION", "DESCRIPTION"],
    ts.map((t) => [t.topicId, t.topic, enumText(TopicOperation, t.operation), t.description]),
  );
}


/** Flag values as the API's enums. */
export const NODE_TYPES = { device: NodeType.DEVICE, gateway: NodeType.GATEWAY };
export const DATA_FORMATS = { "alink-json": DataFormat.ALINK_JSON, custom: DataFormat.CUSTOM };
export const OPERATIONS = { pub: TopicOperation.PUB, sub: TopicOperation.SUB, all: TopicOperation.ALL };
export const SCRIPT_TYPES = { javascript: ScriptType.JAVASCRIPT, python: ScriptType.PYTHON, php: ScriptType.PHP };
export const STATUSES = { inactive: DeviceStatus.INACTIVE, online: DeviceStatus.ONLINE, offline: DeviceStatus.OFFLINE, disabled: DeviceStatus.DISABLED };

