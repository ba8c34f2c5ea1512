import { bootstrapSuccessBody, type Endpoint } from "../domain/index.js";
import { FingerprintTable, type FingerprintTableState } from "./fingerprint-table.js";

/** Device entry flags (the low 8 bits of an entry; the instance index is above them). */
export const FLAG_DISABLED = 1;
/** Placed by the nearest strategy (R3): the edge may move it to a nearer candidate. */
export const FLAG_NEAREST = 2;

/** Lookup outcomes below zero; zero and above is an instance index. */
export const LOOKUP_UNKNOWN_PRODUCT = -1;
export const LOOKUP_UNKNOWN_DEVICE = -2;
export const LOOKUP_DISABLED = -3;

interface ProductEntry {
  /** Instance index of the product's home (its owner). */
  home: number;
  /**
   * True when this daemon holds the product's devices itself and knows every
   * one of them: a name missing from the table is then an unknown device.
   */
  authoritative: boolean;
}

export interface RouteTableStats {
  products: number;
  devices: number;
  instances: number;
  offHeapBytes: number;
}

/**
 * The bootstrap hot path (ARCHITECTURE.md "The bootstrap hot path"):
 * `lookup(productKey, deviceName)` answers from memory with no I/O and no
 * allocation — a device entry first, then the product's home.
 *
 * Routes point at instances, not at addresses: an instance is interned once
 * with its bootstrap reply pre-serialised, so the edge writes cached bytes,
 * and an instance that changes its device endpoint is one update, not one
 * per device. Device entries live in an off-heap FingerprintTable.
 */
/** A RouteTable as a snapshot keeps it. */
export interface RouteSnapshot {
  instanceIds: string[];
  table: FingerprintTableState;
  /**
   * The rest of the table, by instance index: present in the snapshots edge
   * workers start from; absent from a daemon's shutdown snapshot, whose
   * start-up reads these from its store.
   */
  meta?: RouteSnapshotMeta | undefined;
}

export interface RouteSnapshotMeta {
  endpoints: (Endpoint | null)[];
  regions: string[];
  /** [productKey, home instance index, authoritative] */
  products: [string, number, boolean][];
  /** [productKey, candidate instance indices] */
  candidates: [string, number[]][];
}

/**
 * One change to a RouteTable, as a follower (an edge worker) is sent it:
 * instances by id, so that a follower may intern them in its own order.
 */
export type RouteOp =
  | readonly [op: "endpoint", instanceId: string, host: string | null, port: number]
  | readonly [op: "region", instanceId: string, region: string]
  | readonly [op: "candidates", productKey: string, instanceIds: readonly string[]]
  | readonly [op: "product", productKey: string, homeInstanceId: string, authoritative: boolean]
  | readonly [op: "deleteProduct", productKey: string]
  | readonly [op: "device", productKey: string, deviceName: string, holderInstanceId: string, flags: number]
  | readonly [op: "deleteDevice", productKey: string, deviceName: string];

export class RouteTable {
  private readonly products = new Map<string, ProductEntry>();
  private devices: FingerprintTable;
  private readonly instanceIds: string[] = [];
  private readonly instanceIndex = new Map<string, number>();
  private readonly endpoints: (Endpoint | undefined)[] = [];
  private readonly replies: (Buffer | undefined)[] = [];
  private readonly regions: string[] = [];
  /** Nearest-strategy candidate sets by product (instance indices). */
  private readonly candidateSets = new Map<string, readonly number[]>();
  private epoch = 0;
  private loading = false;
  private lastInstanceId = "";
  private lastInstance = -1;
  /** Called with every change once someone follows the table. */
  private follower: ((op: RouteOp) => void) | undefined;

  constructor(initialDeviceCapacity = 1024, sipKey?: Uint8Array) {
    this.devices = new FingerprintTable(initialDeviceCapacity, sipKey);
  }

  /**
   * The table for a snapshot (docs/operating/backup-restore.md "Route
   * snapshot"): instance ids in index order and the device entries (not
   * copied: write them out before the next change); with `meta`, products,
   * endpoints, regions and candidate sets too.
   */
  snapshot(meta = false): RouteSnapshot {
    const s: RouteSnapshot = { instanceIds: [...this.instanceIds], table: this.devices.state() };
    if (meta) {
      s.meta = {
        endpoints: this.endpoints.map((e) => e ?? null),
        regions: [...this.regions],
        products: [...this.products].map(([pk, p]) => [pk, p.home, p.authoritative]),
        candidates: [...this.candidateSets].map(([pk, set]) => [pk, [...set]]),
      };
    }
    return s;
  }

  /**
   * Takes a snapshot's entries. Call first, on a fresh table: the
   * snapshot's instance indices become this table's.
   */
  restore(s: RouteSnapshot): void {
    if (this.instanceIds.length > 0 || this.devices.size > 0) throw new Error("route snapshot: restore into a fresh table only");
    for (const id of s.instanceIds) this.instance(id);
    this.devices = FingerprintTable.fromState(s.table);
    const m = s.meta;
    if (m === undefined) return;
    const idAt = (i: number): string => {
      const id = s.instanceIds[i];
      if (id === undefined) throw new RangeError(`route snapshot: instance index ${i} out of range`);
      return id;
    };
    m.endpoints.forEach((ep, i) => ep !== null && this.setEndpoint(idAt(i), ep));
    m.regions.forEach((region, i) => region !== "" && this.setRegion(idAt(i), region));
    for (const [pk, home, authoritative] of m.products) this.setProduct(pk, idAt(home), authoritative);
    for (const [pk, set] of m.candidates) this.setCandidates(pk, set.map(idAt));
  }

  /** Follows every change from now on (one follower; undefined stops). Bulk loads are not followed: follow after them. */
  follow(fn: ((op: RouteOp) => void) | undefined): void {
    this.follower = fn;
  }

  /** Makes a change a followed table reported. */
  apply(op: RouteOp): void {
    switch (op[0]) {
      case "endpoint":
        return this.setEndpoint(op[1], op[2] === null ? undefined : { host: op[2], port: op[3] });
      case "region":
        return this.setRegion(op[1], op[2]);
      case "candidates":
        return this.setCandidates(op[1], op[2]);
      case "product":
        return this.setProduct(op[1], op[2], op[3]);
      case "deleteProduct":
        return this.deleteProduct(op[1]);
      case "device":
        return this.setDevice(op[1], op[2], op[3], (op[4] & FLAG_DISABLED) !== 0, (op[4] & FLAG_NEAREST) !== 0);
      case "deleteDevice":
        return this.deleteDevice(op[1], op[2]);
    }
  }

  /** Interns an instance id; returns its index. */
  instance(id: string): number {
    if (id === this.lastInstanceId) return this.lastInstance;
    let i = this.instanceIndex.get(id);
    if (i === undefined) {
      if (this.instanceIds.length >= 0x7ffffe) throw new RangeError("too many distinct instances");
      i = this.instanceIds.length;
      this.instanceIds.push(id);
      this.endpoints.push(undefined);
      this.replies.push(undefined);
      this.regions.push("");
      this.instanceIndex.set(id, i);
    }
    this.lastInstanceId = id;
    this.lastInstance = i;
    return i;
  }

  /** Sets (or clears) the device endpoint bootstrap returns for an instance. */
  setEndpoint(instanceId: string, ep: Endpoint | undefined): void {
    const i = this.instance(instanceId);
    this.endpoints[i] = ep === undefined ? undefined : { host: ep.host, port: ep.port };
    this.replies[i] = ep === undefined ? undefined : Buffer.from(bootstrapSuccessBody(ep));
    this.follower?.(["endpoint", instanceId, ep?.host ?? null, ep?.port ?? 0]);
  }

  /** Records an instance's region (the nearest strategy locates candidates by region). */
  setRegion(instanceId: string, region: string): void {
    const i = this.instance(instanceId);
    if (this.regions[i] !== region) {
      this.regions[i] = region;
      this.epoch++;
      this.follower?.(["region", instanceId, region]);
    }
  }

  regionAt(instance: number): string {
    return this.regions[instance] ?? "";
  }

  /** Sets (or, with an empty list, clears) a product's nearest-strategy candidate set (R3). */
  setCandidates(productKey: string, instanceIds: readonly string[]): void {
    this.follower?.(["candidates", productKey, [...instanceIds]]);
    if (instanceIds.length === 0) {
      if (this.candidateSets.delete(productKey)) this.epoch++;
      return;
    }
    this.candidateSets.set(productKey, instanceIds.map((id) => this.instance(id)));
    this.epoch++;
  }

  /** A product's candidate instance indices, or undefined when it has none. */
  candidates(productKey: string): readonly number[] | undefined {
    return this.candidateSets.get(productKey);
  }

  /** Grows whenever a candidate set or an instance's region changes (caches derived from them check it). */
  get candidatesEpoch(): number {
    return this.epoch;
  }

  /** The pre-serialised bootstrap reply for an instance index, or undefined when its endpoint is unknown. */
  reply(instance: number): Buffer | undefined {
    return this.replies[instance];
  }

  endpointAt(instance: number): Endpoint | undefined {
    return this.endpoints[instance];
  }

  instanceAt(instance: number): string {
    return this.instanceIds[instance]!;
  }

  setProduct(productKey: string, homeInstanceId: string, authoritative: boolean): void {
    this.products.set(productKey, { home: this.instance(homeInstanceId), authoritative });
    this.follower?.(["product", productKey, homeInstanceId, authoritative]);
  }

  /** Forgets a product; lookups of its devices without an entry then answer "unknown product". */
  deleteProduct(productKey: string): void {
    this.products.delete(productKey);
    this.follower?.(["deleteProduct", productKey]);
  }

  setDevice(productKey: string, deviceName: string, holderInstanceId: string, disabled: boolean, nearest = false): void {
    const flags = (disabled ? FLAG_DISABLED : 0) | (nearest ? FLAG_NEAREST : 0);
    this.devices.set(productKey, deviceName, this.instance(holderInstanceId), flags);
    this.follower?.(["device", productKey, deviceName, holderInstanceId, flags]);
  }

  /** Makes room for `n` device entries at once (start-up load; an estimate is fine). */
  reserveDevices(n: number): void {
    this.devices.reserve(n);
  }

  /**
   * Bulk load of device routes from one string, records separated by "\n",
   * fields by " ": `productKey holder deviceName` (none of the three can hold
   * a space or a newline). Fields are hashed in place — no string per route
   * is made — and staged; `endLoad()` inserts what is still staged. Returns
   * the number of routes read.
   */
  loadDeviceBlock(text: string): number {
    if (!this.loading) {
      this.loading = true;
      this.devices.setStageSize(1 << 20);
    }
    let n = 0;
    let pos = 0;
    const end = text.length;
    let lastHolder = "";
    let lastIndex = -1;
    while (pos < end) {
      const s1 = text.indexOf(" ", pos);
      const s2 = text.indexOf(" ", s1 + 1);
      let eol = text.indexOf("\n", s2 + 1);
      if (eol < 0) eol = end;
      if (s1 < 0 || s2 < 0 || s2 > eol) throw new Error(`route block: malformed record at offset ${pos}`);
      const hl = s2 - s1 - 1;
      if (lastIndex < 0 || hl !== lastHolder.length || !text.startsWith(lastHolder, s1 + 1)) {
        lastHolder = text.slice(s1 + 1, s2);
        lastIndex = this.instance(lastHolder);
      }
      this.devices.stageParts(text, pos, s1, text, s2 + 1, eol, lastIndex, 0);
      n++;
      pos = eol + 1;
    }
    return n;
  }

  /** Finishes a bulk load: every staged route is in the table. Call before serving. */
  endLoad(): void {
    if (!this.loading) return;
    this.devices.setStageSize(0);
    this.loading = false;
  }

  deleteDevice(productKey: string, deviceName: string): void {
    this.devices.delete(productKey, deviceName);
    this.follower?.(["deleteDevice", productKey, deviceName]);
  }

  /** The instance id a device entry points at, if it has one (not the product fallback). */
  deviceHolder(productKey: string, deviceName: string): string | undefined {
    const v = this.devices.get(productKey, deviceName);
    return v < 0 ? undefined : this.instanceIds[v >>> 8];
  }

  /**
   * Instance index for the device, or a LOOKUP_* code. Pure memory, no
   * allocation: the hot path of every bootstrap request.
   */
  lookup(productKey: string, deviceName: string): number {
    const e = this.lookupEntry(productKey, deviceName);
    return e < 0 ? e : (e & FLAG_DISABLED) !== 0 ? LOOKUP_DISABLED : e >>> 8;
  }

  /**
   * The entry for the device: `instance << 8 | flags` (FLAG_DISABLED,
   * FLAG_NEAREST), the product's home with no flags when the device has no
   * entry, or a LOOKUP_* code below zero. Pure memory, no allocation.
   */
  lookupEntry(productKey: string, deviceName: string): number {
    const packed = this.devices.get(productKey, deviceName);
    if (packed >= 0) return packed;
    const p = this.products.get(productKey);
    if (p === undefined) return LOOKUP_UNKNOWN_PRODUCT;
    return p.authoritative ? LOOKUP_UNKNOWN_DEVICE : p.home << 8;
  }

  stats(): RouteTableStats {
    return {
      products: this.products.size,
      devices: this.devices.size,
      instances: this.instanceIds.length,
      offHeapBytes: this.devices.byteSize,
    };
  }
}
