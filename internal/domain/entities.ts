/** Entities as the domain sees them (SPEC: Entities). Plain data, no I/O. */

export type NodeType = "device" | "gateway";
export type DataFormat = "alink-json" | "custom";
export type AuthType = "device-secret";
export type ProductStatus = "developing" | "published";
export type TopicOperation = "pub" | "sub" | "all";
export type ScriptType = "javascript" | "python" | "php";
/** Connection state kept as runtime data; `disabled` is a separate flag. */
export type ConnState = "inactive" | "online" | "offline";
export type DeviceStatus = ConnState | "disabled";
export type InstanceKind = "legacy-public" | "public" | "enterprise";

export interface Account {
  accountId: string;
  accountName: string;
  createdAt: number;
}

export interface Product {
  productKey: string;
  productName: string;
  nodeType: NodeType;
  dataFormat: DataFormat;
  authType: AuthType;
  status: ProductStatus;
  description: string;
  accountId: string;
  ownerInstanceId: string;
  version: number;
  createdAt: number;
  updatedAt: number;
}

export interface TopicClass {
  topicId: number;
  productKey: string;
  shortName: string;
  operation: TopicOperation;
  description: string;
}

export interface Device {
  iotId: string;
  productKey: string;
  deviceName: string;
  nickname: string;
  state: ConnState;
  disabled: boolean;
  createdAt: number;
  activatedAt: number;
  lastOnlineAt: number;
}

export function deviceStatus(d: Pick<Device, "state" | "disabled">): DeviceStatus {
  return d.disabled ? "disabled" : d.state;
}

export interface Endpoint {
  host: string;
  port: number;
}
