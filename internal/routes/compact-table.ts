/**
 * An exact, off-heap hash table from (product index, DeviceName) to a small
 * value (endpoint index, flags, generation). Built for hundreds of millions
 * of entries: keys live in one growable arena Buffer, slots in typed arrays,
 * so the JS heap holds a handful of objects whatever the size, and lookups
 * allocate nothing. DeviceNames are ASCII by SPEC (`[A-Za-z0-9-_@.:]`), so a
 * key byte is one char code.
 *
 * Open addressing with linear probing and tombstones; the table doubles at
 * 70% occupancy (live + tombstones) and compacts its arena while rehashing.
 */
const EMPTY = 0;
const TOMBSTONE = 0xffffffff;
const MAX_LOAD = 0.7;

export interface Entry {
  endpoint: number;
  flags: number;
  generation: number;
}

export class CompactKeyTable {
  private capacity: number;
  private mask: number;
  /** Arena offset + 1 of the key, EMPTY or TOMBSTONE. */
  private slotKey: Uint32Array;
  private slotHash: Uint32Array;
  private slotProduct: Uint32Array;
  private slotEndpoint: Uint16Array;
  private slotFlags: Uint8Array;
  private slotGeneration: Uint32Array;
  private arena: Buffer;
  private arenaUsed = 1; // offset 0 is never used, so key offset+1 > 0
  private live = 0;
  private tombstones = 0;

  constructor(initialCapacity = 1024) {
    let cap = 16;
    while (cap < initialCapacity / MAX_LOAD) cap *= 2;
    this.capacity = cap;
    this.mask = cap - 1;
    this.slotKey = new Uint32Array(cap);
    this.slotHash = new Uint32Array(cap);
    this.slotProduct = new Uint32Array(cap);
    this.slotEndpoint = new Uint16Array(cap);
    this.slotFlags = new Uint8Array(cap);
    this.slotGeneration = new Uint32Array(cap);
    this.arena = Buffer.allocUnsafe(Math.max(1024, initialCapacity * 24));
  }

  get size(): number {
    return this.live;
  }

  /** Bytes held off the JS heap (slots and arena). */
  get byteSize(): number {
    return this.capacity * (4 + 4 + 4 + 2 + 1 + 4) + this.arena.length;
  }

  private static hash(product: number, name: string): number {
    // FNV-1a over the product index bytes and the name's char codes.
    let h = 0x811c9dc5;
    h = Math.imul(h ^ (product & 0xff), 0x01000193);
    h = Math.imul(h ^ ((product >>> 8) & 0xff), 0x01000193);
    h = Math.imul(h ^ ((product >>> 16) & 0xff), 0x01000193);
    h = Math.imul(h ^ (product >>> 24), 0x01000193);
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
    // Final avalanche (murmur3 fmix32) so that linear probing sees spread bits.
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
  }

  private keyEquals(slot: number, name: string): boolean {
    const off = this.slotKey[slot]! - 1;
    const arena = this.arena;
    const len = arena[off]!;
    if (len !== name.length) return false;
    for (let i = 0; i < len; i++) if (arena[off + 1 + i] !== name.charCodeAt(i)) return false;
    return true;
  }

  /** Slot index of the key, or -1. */
  private find(product: number, name: string, h: number): number {
    let i = h & this.mask;
    for (;;) {
      const k = this.slotKey[i]!;
      if (k === EMPTY) return -1;
      if (k !== TOMBSTONE && this.slotHash[i] === h && this.slotProduct[i] === product && this.keyEquals(i, name)) return i;
      i = (i + 1) & this.mask;
    }
  }

  has(product: number, name: string): boolean {
    return this.find(product, name, CompactKeyTable.hash(product, name)) >= 0;
  }

  /** Endpoint index of the entry, or -1. Allocates nothing. */
  endpointOf(product: number, name: string): number {
    const s = this.find(product, name, CompactKeyTable.hash(product, name));
    return s < 0 ? -1 : this.slotEndpoint[s]!;
  }

  /** `endpoint * 256 + flags` of the entry, or -1: one probe, no allocation. */
  packedOf(product: number, name: string): number {
    const s = this.find(product, name, CompactKeyTable.hash(product, name));
    return s < 0 ? -1 : this.slotEndpoint[s]! * 256 + this.slotFlags[s]!;
  }

  /** Flags of the entry, or -1. */
  flagsOf(product: number, name: string): number {
    const s = this.find(product, name, CompactKeyTable.hash(product, name));
    return s < 0 ? -1 : this.slotFlags[s]!;
  }

  get(product: number, name: string): Entry | undefined {
    const s = this.find(product, name, CompactKeyTable.hash(product, name));
    if (s < 0) return undefined;
    return { endpoint: this.slotEndpoint[s]!, flags: this.slotFlags[s]!, generation: this.slotGeneration[s]! };
  }

  private appendKey(name: string): number {
    const need = 1 + name.length;
    if (this.arenaUsed + need > this.arena.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.arena.length * 2, this.arenaUsed + need));
      this.arena.copy(grown, 0, 0, this.arenaUsed);
      this.arena = grown;
    }
    const off = this.arenaUsed;
    this.arena[off] = name.length;
    for (let i = 0; i < name.length; i++) this.arena[off + 1 + i] = name.charCodeAt(i);
    this.arenaUsed += need;
    return off + 1;
  }

  /** Inserts or replaces. Names must be 1–255 ASCII chars. */
  set(product: number, name: string, e: Entry): void {
    if (name.length === 0 || name.length > 255) throw new RangeError("key length must be 1-255");
    const h = CompactKeyTable.hash(product, name);
    const found = this.find(product, name, h);
    if (found >= 0) {
      this.slotEndpoint[found] = e.endpoint;
      this.slotFlags[found] = e.flags;
      this.slotGeneration[found] = e.generation;
      return;
    }
    if ((this.live + this.tombstones + 1) / this.capacity > MAX_LOAD) this.rehash();
    let i = h & this.mask;
    while (this.slotKey[i] !== EMPTY && this.slotKey[i] !== TOMBSTONE) i = (i + 1) & this.mask;
    if (this.slotKey[i] === TOMBSTONE) this.tombstones--;
    this.slotKey[i] = this.appendKey(name);
    this.slotHash[i] = h;
    this.slotProduct[i] = product;
    this.slotEndpoint[i] = e.endpoint;
    this.slotFlags[i] = e.flags;
    this.slotGeneration[i] = e.generation;
    this.live++;
  }

  delete(product: number, name: string): boolean {
    const s = this.find(product, name, CompactKeyTable.hash(product, name));
    if (s < 0) return false;
    this.slotKey[s] = TOMBSTONE;
    this.live--;
    this.tombstones++;
    return true;
  }

  /** Rebuilds at a capacity fitting the live entries, compacting the arena. */
  private rehash(): void {
    let cap = this.capacity;
    while ((this.live + 1) / cap > MAX_LOAD / 2) cap *= 2;
    const old = {
      key: this.slotKey,
      hash: this.slotHash,
      product: this.slotProduct,
      endpoint: this.slotEndpoint,
      flags: this.slotFlags,
      generation: this.slotGeneration,
      arena: this.arena,
      capacity: this.capacity,
    };
    this.capacity = cap;
    this.mask = cap - 1;
    this.slotKey = new Uint32Array(cap);
    this.slotHash = new Uint32Array(cap);
    this.slotProduct = new Uint32Array(cap);
    this.slotEndpoint = new Uint16Array(cap);
    this.slotFlags = new Uint8Array(cap);
    this.slotGeneration = new Uint32Array(cap);
    this.arena = Buffer.allocUnsafe(Math.max(1024, this.arenaUsed));
    this.arenaUsed = 1;
    this.tombstones = 0;
    for (let s = 0; s < old.capacity; s++) {
      const k = old.key[s]!;
      if (k === EMPTY || k === TOMBSTONE) continue;
      const off = k - 1;
      const len = old.arena[off]!;
      const newOff = this.arenaUsed;
      old.arena.copy(this.arena, newOff, off, off + 1 + len);
      this.arenaUsed += 1 + len;
      let i = old.hash[s]! & this.mask;
      while (this.slotKey[i] !== EMPTY) i = (i + 1) & this.mask;
      this.slotKey[i] = newOff + 1;
      this.slotHash[i] = old.hash[s]!;
      this.slotProduct[i] = old.product[s]!;
      this.slotEndpoint[i] = old.endpoint[s]!;
      this.slotFlags[i] = old.flags[s]!;
      this.slotGeneration[i] = old.generation[s]!;
    }
  }
}
