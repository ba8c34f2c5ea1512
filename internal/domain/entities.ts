import type { DeviceRelease } from "./records.js";
import type { Strategy } from "./strategy.js";
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
  /** Instance this copy came from; empty for a product created here. */
  receivedFrom: string;
  version: number;
  /** The nearest strategy's candidate instances (R3), set at the home; empty otherwise. */
  candidates: string[];
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

/** Where a device is relative to the instance that has its row. */
export type Placement = "here" | "leaving" | "away";

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
  placement: Placement;
  /** Instance that holds the device now (this one unless away). */
  holder: string;
  /** Grows by one at every move. */
  generation: number;
  /** Instance where the device was registered: its source for R11. */
  homeInstance: string;
  /** Instance it last came from; empty when registered here and never moved. */
  receivedFrom: string;
  /**
   * Received by a handoff whose source has not yet confirmed that it
   * released the device: held here, but it does not sign in here yet (the
   * source may still accept it until then; never both at once).
   */
  arriving: boolean;
}

export function deviceStatus(d: Pick<Device, "state" | "disabled">): DeviceStatus {
  return d.disabled ? "disabled" : d.state;
}

export interface Endpoint {
  host: string;
  port: number;
}

export type JobStatus = "initializing" | "running" | "completed" | "failed" | "aborted";
export type JobType = "product" | "device";
/** A device's part in a job; `aborted`: the job was aborted before the target accepted it, and it stayed at the source. */
export type JobDeviceResult = "pending" | "succeeded" | "failed" | "aborted";

export interface Job {
  jobId: string;
  jobType: JobType;
  accountId: string;
  productKey: string;
  strategy: Strategy;
  /** The nearest strategy's candidate instance ids; empty otherwise. */
  candidates: string[];
  targetRegion: string;
  targetInstance: string;
  /** The receiving account of a cross-account job (R4); empty for same-account. */
  targetAccount: string;
  status: JobStatus;
  total: number;
  succeeded: number;
  failed: number;
  message: string;
  unreachableSince: number;
  /** An abort in progress (R13): `fence` waits for the target to fence the pending devices; `force` does not. */
  aborting: "" | "fence" | "force";
  /** keep (R8: runtime data stays at the source) or migrate (the latest property values and the shadow go with the devices). */
  runtimeData: RuntimeDataChoice;
  createdAt: number;
  updatedAt: number;
}

export type RuntimeDataChoice = "keep" | "migrate";

/** Everything that moves with a product (R8): info, topic classes, thing model, script. */
export interface ProductBundle
  extends Pick<
    Product,
    "productKey" | "accountId" | "productName" | "nodeType" | "dataFormat" | "authType" | "status" | "description" | "ownerInstanceId" | "version" | "candidates"
  > {
  accountName: string;
  topics: { shortName: string; operation: TopicOperation; description: string }[];
  thingModel: string;
  script: { scriptType: ScriptType; content: string } | undefined;
  /**
   * The owner's signature of the bundle (docs/operating/security.md), kept
   * with a copy and relayed unchanged; undefined when the owner sends it
   * unsigned (it signs as it sends) or a copy predates signatures.
   */
  ownerSignature?: OwnerSignature | undefined;
}

/** A signature and the certificate (DER) whose key made it. */
export interface OwnerSignature {
  certificate: Uint8Array;
  signature: Uint8Array;
}

/** What moves with a device (R8): its certificate and identity, never its runtime data. */
export interface DeviceCertificate {
  deviceName: string;
  deviceSecret: string;
  iotId: string;
  generation: number;
  homeInstance: string;
  nickname: string;
  createdAt: number;
  /**
   * How the sending holder got the device: its route's release (docs/operating/
   * security.md); undefined when it is the product's home and the device
   * never left it.
   */
  acquired?: DeviceRelease | undefined;
  /** runtime_data: migrate — the latest property values and the shadow, which leave the source with it. */
  runtime?: DeviceRuntime | undefined;
}

/** What a migrating device takes along (never history or events: they stay at the source). */
export interface DeviceRuntime {
  properties: { identifier: string; value: string; time: number }[];
  /** The shadow document (JSON) and its version; undefined when it had none. */
  shadow: { json: string; version: number } | undefined;
}

export interface HandoffOutcome {
  deviceName: string;
  generation: number;
  accepted: boolean;
  errorCode: string;
  errorMessage: string;
}
