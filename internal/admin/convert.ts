import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  AuthType,
  DevicePlacement,
  JobStatus,
  DataFormat,
  DeviceStatus,
  NodeType,
  ProductStatus,
  ScriptType,
  TopicOperation,
  type AccountSchema,
  type AuditEventSchema,
  type AuthCodeSchema,
  type GrantSchema,
  type PoolProductSchema,
  type DeviceSchema,
  type DistributeJobSchema,
  type ProductSchema,
  type TopicClassSchema,
} from "../gen/iotfed/v1/admin_pb.js";
import * as domain from "../domain/index.js";
import type { AuditRecord, AuthCodeRecord, GrantRecord } from "../store/index.js";

/** Wire enums ↔ domain values, one table each. UNSPECIFIED maps to the default where one exists. */
export const nodeTypeFromWire = (v: NodeType): domain.NodeType => {
  if (v === NodeType.GATEWAY) return "gateway";
  if (v === NodeType.DEVICE || v === NodeType.UNSPECIFIED) return "device";
  throw new domain.InvalidArgumentError("node_type", `unknown value ${String(v)}`);
};
export const nodeTypeToWire = (v: domain.NodeType): NodeType => (v === "gateway" ? NodeType.GATEWAY : NodeType.DEVICE);

export const dataFormatFromWire = (v: DataFormat): domain.DataFormat => {
  if (v === DataFormat.CUSTOM) return "custom";
  if (v === DataFormat.ALINK_JSON || v === DataFormat.UNSPECIFIED) return "alink-json";
  throw new domain.InvalidArgumentError("data_format", `unknown value ${String(v)}`);
};
export const dataFormatToWire = (v: domain.DataFormat): DataFormat => (v === "custom" ? DataFormat.CUSTOM : DataFormat.ALINK_JSON);

export const authTypeFromWire = (v: AuthType): domain.AuthType => {
  if (v === AuthType.DEVICE_SECRET || v === AuthType.UNSPECIFIED) return "device-secret";
  throw new domain.InvalidArgumentError("auth_type", `unknown value ${String(v)}`);
};

export const productStatusToWire = (v: domain.ProductStatus): ProductStatus =>
  v === "published" ? ProductStatus.PUBLISHED : ProductStatus.DEVELOPING;

const OPS: Record<number, domain.TopicOperation> = {
  [TopicOperation.PUB]: "pub",
  [TopicOperation.SUB]: "sub",
  [TopicOperation.ALL]: "all",
};
export const topicOpFromWire = (v: TopicOperation): domain.TopicOperation => {
  const op = OPS[v];
  if (op === undefined) throw new domain.InvalidArgumentError("operation", "is required: pub, sub or all");
  return op;
};
export const topicOpToWire = (v: domain.TopicOperation): TopicOperation =>
  v === "pub" ? TopicOperation.PUB : v === "sub" ? TopicOperation.SUB : TopicOperation.ALL;

const SCRIPTS: Record<number, domain.ScriptType> = {
  [ScriptType.JAVASCRIPT]: "javascript",
  [ScriptType.PYTHON]: "python",
  [ScriptType.PHP]: "php",
};
export const scriptTypeFromWire = (v: ScriptType): domain.ScriptType => {
  const t = SCRIPTS[v];
  if (t === undefined) throw new domain.InvalidArgumentError("script_type", "is required: javascript, python or php");
  return t;
};
export const scriptTypeToWire = (v: domain.ScriptType): ScriptType =>
  v === "javascript" ? ScriptType.JAVASCRIPT : v === "python" ? ScriptType.PYTHON : ScriptType.PHP;

const STATUSES: Record<number, domain.DeviceStatus> = {
  [DeviceStatus.INACTIVE]: "inactive",
  [DeviceStatus.ONLINE]: "online",
  [DeviceStatus.OFFLINE]: "offline",
  [DeviceStatus.DISABLED]: "disabled",
};
export const deviceStatusFromWire = (v: DeviceStatus): domain.DeviceStatus | undefined => {
  if (v === DeviceStatus.UNSPECIFIED) return undefined;
  const s = STATUSES[v];
  if (s === undefined) throw new domain.InvalidArgumentError("status", `unknown value ${String(v)}`);
  return s;
};
export const deviceStatusToWire = (v: domain.DeviceStatus): DeviceStatus =>
  Number(Object.entries(STATUSES).find(([, s]) => s === v)![0]);

export const accountToWire = (a: domain.Account): MessageInitShape<typeof AccountSchema> => ({
  accountId: a.accountId,
  accountName: a.accountName,
  createTimeMs: BigInt(a.createdAt),
});

export const productToWire = (p: domain.Product, deviceCount: number): MessageInitShape<typeof ProductSchema> => ({
  productKey: p.productKey,
  productName: p.productName,
  nodeType: nodeTypeToWire(p.nodeType),
  dataFormat: dataFormatToWire(p.dataFormat),
  authType: AuthType.DEVICE_SECRET,
  status: productStatusToWire(p.status),
  description: p.description,
  accountId: p.accountId,
  ownerInstanceId: p.ownerInstanceId,
  version: BigInt(p.version),
  deviceCount: BigInt(deviceCount),
  createTimeMs: BigInt(p.createdAt),
  updateTimeMs: BigInt(p.updatedAt),
  nearestCandidates: p.candidates,
});

export const topicToWire = (t: domain.TopicClass): MessageInitShape<typeof TopicClassSchema> => ({
  topicId: BigInt(t.topicId),
  productKey: t.productKey,
  topicShortName: t.shortName,
  topic: domain.topicTemplate(t.productKey, t.shortName),
  operation: topicOpToWire(t.operation),
  description: t.description,
});

const PLACEMENTS: Record<domain.Placement, DevicePlacement> = {
  here: DevicePlacement.HERE,
  leaving: DevicePlacement.LEAVING,
  away: DevicePlacement.AWAY,
};
export const placementToWire = (p: domain.Placement): DevicePlacement => PLACEMENTS[p];

const JOB_STATUSES: Record<domain.JobStatus, JobStatus> = {
  initializing: JobStatus.INITIALIZING,
  running: JobStatus.RUNNING,
  completed: JobStatus.COMPLETED,
  failed: JobStatus.FAILED,
  aborted: JobStatus.ABORTED,
};
export const jobStatusFromWire = (v: JobStatus): domain.JobStatus | undefined => {
  if (v === JobStatus.UNSPECIFIED) return undefined;
  const s = (Object.keys(JOB_STATUSES) as domain.JobStatus[]).find((k) => JOB_STATUSES[k] === v);
  if (s === undefined) throw new domain.InvalidArgumentError("status", `unknown value ${String(v)}`);
  return s;
};

export const jobToWire = (j: domain.Job, regionId: string, instanceId: string, regionOf: (id: string) => string = () => ""): MessageInitShape<typeof DistributeJobSchema> => ({
  jobId: j.jobId,
  jobType: j.jobType,
  status: JOB_STATUSES[j.status],
  statusCode: domain.jobStatusCode(j.status),
  productKey: j.productKey,
  accountId: j.accountId,
  sourceRegionId: regionId,
  sourceInstanceId: instanceId,
  targetRegionId: j.targetRegion,
  targetInstanceId: j.targetInstance,
  strategy: j.strategy,
  total: j.total,
  succeeded: j.succeeded,
  failed: j.failed,
  pending: j.total - j.succeeded - j.failed,
  message: j.message,
  createTimeMs: BigInt(j.createdAt),
  updateTimeMs: BigInt(j.updatedAt),
  candidates: j.candidates.map((id) => ({ instanceId: id, regionId: regionOf(id) })),
  targetAccountId: j.targetAccount,
  runtimeData: j.runtimeData,
});

export const grantToWire = (g: GrantRecord): MessageInitShape<typeof GrantSchema> => ({
  grantId: g.grantId,
  kind: g.kind,
  productKey: g.productKey,
  deviceName: g.deviceName,
  grantorAccountId: g.grantorAccountId,
  granteeAccountId: g.granteeAccountId,
  createTimeMs: BigInt(g.createdAt),
});

export const authCodeToWire = (c: AuthCodeRecord): MessageInitShape<typeof AuthCodeSchema> => ({
  codeId: c.codeId,
  code: c.code,
  requesterAccountId: c.requesterAccountId,
  requesterAccountName: c.requesterAccountName,
  state: c.state,
  failedTries: c.failedTries,
  issueTimeMs: BigInt(c.issuedAt),
  expireTimeMs: BigInt(c.expiresAt),
  usedByJobId: c.usedJob,
  requesterInstanceId: c.requesterPeer,
});

export const poolToWire = (p: domain.PoolRoute, full: boolean): MessageInitShape<typeof PoolProductSchema> => ({
  productKey: p.productKey,
  productName: p.productName,
  accountId: p.accountId,
  accountName: p.accountName,
  nodeType: nodeTypeToWire(p.nodeType),
  dataFormat: dataFormatToWire(p.dataFormat),
  description: p.description,
  homeInstanceId: p.home,
  version: BigInt(p.version),
  poolTimeMs: BigInt(p.pooledAt),
  topics: full ? p.topics.map((t, i) => ({ topicId: BigInt(i + 1), productKey: p.productKey, topicShortName: t.shortName, topic: domain.topicTemplate(p.productKey, t.shortName), operation: topicOpToWire(t.operation), description: t.description })) : [],
  tslJson: full ? p.thingModel : "",
});

export const auditToWire = (a: AuditRecord): MessageInitShape<typeof AuditEventSchema> => ({
  seq: BigInt(a.seq),
  timeMs: BigInt(a.at),
  action: a.action,
  result: a.result,
  actorKind: a.actorKind,
  actorAccountId: a.actorAccount,
  actorAddress: a.actorAddress,
  accountId: a.accountId,
  otherAccountId: a.otherAccount,
  productKey: a.productKey,
  deviceName: a.deviceName,
  instanceId: a.instanceId,
  subjectId: a.subjectId,
  detail: a.detail,
});

export const deviceToWire = (d: domain.Device, secret?: string): MessageInitShape<typeof DeviceSchema> => ({
  iotId: d.iotId,
  productKey: d.productKey,
  deviceName: d.deviceName,
  deviceSecret: secret ?? "",
  status: deviceStatusToWire(domain.deviceStatus(d)),
  nickname: d.nickname,
  createTimeMs: BigInt(d.createdAt),
  activeTimeMs: BigInt(d.activatedAt),
  lastOnlineTimeMs: BigInt(d.lastOnlineAt),
  instanceId: d.holder,
  placement: placementToWire(d.placement),
  generation: BigInt(d.generation),
  homeInstanceId: d.homeInstance,
});
