import { bootstrapSuccessBody, type Endpoint } from "../domain/index.js";
import { CompactKeyTable } from "./compact-table.js";

/** Device entry flags. */
export const FLAG_DISABLED = 1;

/** Lookup outcomes below zero; zero and above is an endpoint index. */
export const LOOKUP_UNKNOWN_PRODUCT = -1;
export const LOOKUP_UNKNOWN_DEVICE = -2;
export const LOOKUP_DISABLED = -3;

interface ProductEntry {
  index: number;
  /** Endpoint index of the product's home instance. */
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
  endpoints: number;
  offHeapBytes: number;
}

/**
 * The bootstrap hot path (ARCHITECTURE.md "The bootstrap hot path"):
 * `lookup(productKey, deviceName)` answers from memory with no I/O and no
 * allocation — a device entry first, then the product's home. Endpoints are
 * interned with their reply pre-serialised, so the edge writes cached bytes.
 */
export class RouteTable {
  private readonly products = new Map<string, ProductEntry>();
  private readonly devices: CompactKeyTable;
  private readonly endpoints: Endpoint[] = [];
  private readonly endpointIndex = new Map<string, number>();
  private readonly replies: Buffer[] = [];
  private nextProductIndex = 0;

  constructor(initialDeviceCapacity = 1024) {
    this.devices = new CompactKeyTable(initialDeviceCapacity);
  }

  private lastEndpoint: Endpoint | undefined;
  private lastEndpointIndex = 0;

  /** Interns an endpoint; returns its index. Loading millions of routes passes the same object each time. */
  endpoint(ep: Endpoint): number {
    if (ep === this.lastEndpoint) return this.lastEndpointIndex;
    const key = `${ep.host}:${ep.port}`;
    let i = this.endpointIndex.get(key);
    if (i === undefined) {
      if (this.endpoints.length >= 0xffff) throw new RangeError("too many distinct endpoints");
      i = this.endpoints.length;
      this.endpoints.push({ host: ep.host, port: ep.port });
      this.replies.push(Buffer.from(bootstrapSuccessBody(ep)));
      this.endpointIndex.set(key, i);
    }
    this.lastEndpoint = ep;
    this.lastEndpointIndex = i;
    return i;
  }

  /** The pre-serialised bootstrap reply for an endpoint index. */
  reply(endpointIndex: number): Buffer {
    return this.replies[endpointIndex]!;
  }

  endpointAt(endpointIndex: number): Endpoint {
    return this.endpoints[endpointIndex]!;
  }

  setProduct(productKey: string, home: Endpoint, authoritative: boolean): void {
    const prior = this.products.get(productKey);
    const entry: ProductEntry = { index: prior?.index ?? this.nextProductIndex++, home: this.endpoint(home), authoritative };
    this.products.set(productKey, entry);
  }

  /** Forgets a product; its device entries must have been removed first. */
  deleteProduct(productKey: string): void {
    this.products.delete(productKey);
  }

  setDevice(productKey: string, deviceName: string, at: Endpoint, disabled: boolean, generation = 0): void {
    const p = this.products.get(productKey);
    if (p === undefined) throw new Error(`route table: device ${productKey}/${deviceName} before its product`);
    this.devices.set(p.index, deviceName, { endpoint: this.endpoint(at), flags: disabled ? FLAG_DISABLED : 0, generation });
  }

  deleteDevice(productKey: string, deviceName: string): void {
    const p = this.products.get(productKey);
    if (p !== undefined) this.devices.delete(p.index, deviceName);
  }

  /**
   * Endpoint index for the device, or a LOOKUP_* code. Pure memory, no
   * allocation: the hot path of every bootstrap request.
   */
  lookup(productKey: string, deviceName: string): number {
    const p = this.products.get(productKey);
    if (p === undefined) return LOOKUP_UNKNOWN_PRODUCT;
    const packed = this.devices.packedOf(p.index, deviceName);
    if (packed >= 0) return (packed & FLAG_DISABLED) !== 0 ? LOOKUP_DISABLED : packed >>> 8;
    return p.authoritative ? LOOKUP_UNKNOWN_DEVICE : p.home;
  }

  stats(): RouteTableStats {
    return {
      products: this.products.size,
      devices: this.devices.size,
      endpoints: this.endpoints.length,
      offHeapBytes: this.devices.byteSize,
    };
  }
}
