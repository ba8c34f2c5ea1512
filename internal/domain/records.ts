import type { DataFormat, NodeType, ProductStatus, TopicOperation } from "./entities.js";

/**
 * The replicated records of the replication plane (ARCHITECTURE.md
 * "Ownership"): routes (where a device is, a product's home), the instance
 * and account directories, the public pool. Every daemon applies a record
 * only when its generation (devices) or version (the others) is higher than
 * the one it has. None of them carries a secret. How each kind is stored:
 * internal/store/record-kinds.ts; its wire form: internal/replication/codec.ts.
 */

/**
 * The previous holder's signed release of a device to its holder: one leaf
 * of a Merkle tree whose root the previous holder signed when it confirmed
 * the handoff (docs/operating/security.md "Threat model").
 */
export interface DeviceRelease {
  /** The previous holder. */
  from: string;
  /** The generation at which the holder received the device. */
  generation: number;
  /** Which certificate of `from` signed the root. */
  keyId: Uint8Array;
  rootSignature: Uint8Array;
  /** The leaf's index, the tree's leaf count, and the leaf's audit path. */
  index: number;
  leaves: number;
  path: Uint8Array[];
  /** Placed by the nearest strategy (R3) when it moved; part of the leaf. */
  nearest: boolean;
  /** The account the device went to at its holder; part of the leaf. */
  account: string;
  /** The holder's signature over the same root (its acceptance), when it made one. */
  holderKeyId?: Uint8Array | undefined;
  holderRootSignature?: Uint8Array | undefined;
}

/** A distributed device's current holder. */
export interface DeviceRoute {
  productKey: string;
  deviceName: string;
  holder: string;
  generation: number;
  /** Placed by the nearest strategy (R3): moves to the candidate nearest to where it bootstraps. */
  nearest: boolean;
  /** How the holder got the device; undefined at the product's home (and for routes of earlier releases). */
  release?: DeviceRelease | undefined;
  committedBy: string;
  committedAt: number;
}

/** A product's home (its owner instance) and public catalogue fields. */
export interface ProductRoute {
  productKey: string;
  home: string;
  version: number;
  deleted: boolean;
  /** Nearest-strategy candidate instances; empty otherwise. */
  candidates: string[];
  accountId: string;
  productName: string;
  nodeType: NodeType;
  status: ProductStatus;
  regionId: string;
  committedBy: string;
  committedAt: number;
}

/** An instance's directory entry: where its devices connect. */
export interface InstanceRoute {
  instanceId: string;
  regionId: string;
  mqttHost: string;
  mqttPort: number;
  version: number;
  /** Its CA-issued certificates (DER), current first; empty in records of earlier releases. */
  certificates: Uint8Array[];
  /** Where its peer plane listens (host:port); "" when it has none. */
  peerAddress: string;
  /** public, enterprise or legacy-public; "" when not said. */
  kind: string;
  committedAt: number;
}

/** An account's entry in the federation's account directory (no token, no secret). */
export interface AccountRoute {
  accountId: string;
  accountName: string;
  /** Instance where the account was created; it publishes the record. */
  home: string;
  version: number;
  createdAt: number;
  committedAt: number;
}

/** A topic class of a pool product. */
export interface PoolTopic {
  shortName: string;
  operation: TopicOperation;
  description: string;
}

/** A product in the public pool (R17): viewable read-only in every region. */
export interface PoolRoute {
  productKey: string;
  accountId: string;
  accountName: string;
  productName: string;
  nodeType: NodeType;
  dataFormat: DataFormat;
  description: string;
  home: string;
  /** The product's version at its home. */
  version: number;
  topics: PoolTopic[];
  thingModel: string;
  pooledAt: number;
  committedBy: string;
  committedAt: number;
}

export type RouteChange =
  | { kind: "device"; route: DeviceRoute }
  | { kind: "product"; route: ProductRoute }
  | { kind: "instance"; route: InstanceRoute }
  | { kind: "account"; route: AccountRoute }
  | { kind: "pool"; route: PoolRoute };

/** The order of a record: a device's generation, otherwise the record's version. A record is applied only over a lower one. */
export function recordOrder(c: RouteChange): number {
  return c.kind === "device" ? c.route.generation : c.route.version;
}
