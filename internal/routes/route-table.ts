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
/** A RouteTable's device entries as a snapshot keeps them. */
export interface RouteSnapshot {
  instanceIds: string[];
  table: FingerprintTableState;
}

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

  constructor(initialDeviceCapacity = 1024, sipKey?: Uint8Array) {
    this.devices = new FingerprintTable(initialDeviceCapacity, sipKey);
  }

  /**
   * The device entries for a snapshot (docs/operating/backup-restore.md
   * "Route snapshot"): instance ids in index order, and the table.
   */
  deviceSnapshot(): RouteSnapshot {
    return { instanceIds: [...this.instanceIds], table: this.devices.state() };
  }

  /**
   * Takes device entries from a snapshot. Call first, on a fresh table:
   * the snapshot's instance indices become this table's.
   */
  restoreDevices(s: RouteSnapshot): void {
    if (this.instanceIds.length > 0 || this.devices.size > 0) throw new Error("route snapshot: restore into a fresh table only");
    for (const id of s.instanceIds) this.instance(id);
    this.devices = FingerprintTable.fromState(s.table);
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
  }

  /** Records an instance's region (the nearest strategy locates candidates by region). */
  setRegion(instanceId: string, region: string): void {
    const i = this.instance(instanceId);
    if (this.regions[i] !== region) {
      this.regions[i] = region;
      this.epoch++;
    }
  }

  regionAt(instance: number): string {
    return this.regions[instance] ?? "";
  }

  /** Sets (or, with an empty list, clears) a product's nearest-strategy candidate set (R3). */
  setCandidates(productKey: string, instanceIds: readonly string[]): void {
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
  }

  /** Forgets a product; lookups of its devices without an entry then answer "unknown product". */
  deleteProduct(productKey: string): void {
    this.products.delete(productKey);
  }

  setDevice(productKey: string, deviceName: string, holderInstanceId: string, disabled: boolean, nearest = false): void {
    this.devices.set(productKey, deviceName, this.instance(holderInstanceId), (disabled ? FLAG_DISABLED : 0) | (nearest ? FLAG_NEAREST : 0));
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
