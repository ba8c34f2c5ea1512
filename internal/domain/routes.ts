/**
 * Route records of the replication plane (ARCHITECTURE.md "Ownership"):
 * every daemon applies a record only when its generation (devices) or
 * version (products, instances) is higher than the one it has. None of
 * them carries a secret.
 */

/** A distributed device's current holder. */
export interface DeviceRoute {
  productKey: string;
  deviceName: string;
  holder: string;
  generation: number;
  /** Placed by the nearest strategy (R3): moves to the candidate nearest to where it bootstraps. */
  nearest: boolean;
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
  nodeType: string;
  status: string;
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
  committedAt: number;
}

export type RouteChange =
  | { kind: "device"; route: DeviceRoute }
  | { kind: "product"; route: ProductRoute }
  | { kind: "instance"; route: InstanceRoute };
