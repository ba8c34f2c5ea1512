import type { MessageInitShape } from "@bufbuild/protobuf";
import type { AdminService } from "../gen/iotfed/v1/admin_pb.js";
import type {
  ForwardJobCallRequestSchema,
  ForwardJobCallResponse,
  IssueAuthCodeRequestSchema,
  IssueAuthCodeResponse,
  RedeemAuthCodeRequestSchema,
  RedeemAuthCodeResponse,
  DescribeReplicationResponse,
} from "../gen/iotfed/v1/peer_pb.js";
import type { UnaryService } from "../rpc/index.js";
import type { InstanceKind, Job, Principal } from "../domain/index.js";
import type { BackupResult, Repositories } from "../store/index.js";
import type { InstanceDirectory } from "../routing/index.js";
import type { Access } from "./access.js";
import type { Audited } from "./audited.js";
import type { ReplicationStateSchema } from "../gen/iotfed/v1/replication_pb.js";

/** The peer calls the admin API makes: codes for cross-account distribution (R4), and job calls it forwards. */
export interface PeerCalls {
  issueAuthCode(req: MessageInitShape<typeof IssueAuthCodeRequestSchema>): Promise<IssueAuthCodeResponse>;
  redeemAuthCode(req: MessageInitShape<typeof RedeemAuthCodeRequestSchema>): Promise<RedeemAuthCodeResponse>;
  forwardJobCall(req: MessageInitShape<typeof ForwardJobCallRequestSchema>, opts?: { deadlineMs?: number }): Promise<ForwardJobCallResponse>;
}

/** A device's reply to a property set or a service call. */
export interface DeviceReply {
  id: string;
  code: number;
  message: string;
  data: unknown;
}

/** What the admin API asks of the thing runtime (docs/guides/thing-model.md). */
export interface ThingCalls {
  setProperty(productKey: string, deviceName: string, items: unknown): Promise<DeviceReply>;
  invokeService(productKey: string, deviceName: string, identifier: string, args: unknown): Promise<DeviceReply>;
}

export interface AdminContext {
  principal: Principal;
  /** The client's address (for the audit log). */
  address: string;
}

export interface AdminDeps {
  repos: Pick<Repositories, "accounts" | "products" | "devices" | "jobs" | "authCodes" | "grants" | "audit" | "records" | "runtime" | "groups" | "topology">;
  /** Property sets and service calls to online devices (the thing runtime). */
  thing: ThingCalls;
  /** This instance, its peers (distribution targets) and the replicated directory. */
  directory: InstanceDirectory;
  /** R1: devices per job, CSV and batch registration. */
  maxDevicesPerBatch: number;
  /** Tells the job worker there is work: a job was created or retried, a product changed. */
  kickWorker: () => void;
  /** Aborts a job (R13) through the job worker: fenced at the target, or forced; waits up to `waitMs` for the target. */
  abortJob: (jobId: string, force: boolean, waitMs: number) => Promise<{ job: Job; moved: number; returned: number }>;
  /** Writes a consistent copy of the store into the backup directory under `name`. */
  backup: (name: string) => Promise<BackupResult>;
  /** The peer plane's client of a configured peer (undefined without peers). */
  peerClient: (instanceId: string) => PeerCalls | undefined;
  /** Instance kinds where grants are allowed (R18). */
  grantInstanceKinds: readonly InstanceKind[];
  /** This daemon's planes, for QueryFederation. */
  status: () => DaemonStatus;
  /** A peer's replication, asked with a deadline of `ms` (its answer is also whether it is reachable); undefined for an instance that is not a peer. */
  peerReplication: (instanceId: string, ms: number) => Promise<DescribeReplicationResponse> | undefined;
}

/** What QueryFederation tells of this daemon beyond its store. */
export interface DaemonStatus {
  replication: MessageInitShape<typeof ReplicationStateSchema>;
  routes: { products: number; devices: number };
}

/** Every AdminService method, as this daemon implements it. */
export type AdminHandlers = UnaryService<(typeof AdminService)["method"], AdminContext>;
/** The handlers of one resource. */
export type Handlers<K extends keyof AdminHandlers> = Pick<AdminHandlers, K>;

/** What each resource's handlers are built from. */
export interface HandlerKit {
  deps: AdminDeps;
  access: Access;
  audited: Audited;
}
