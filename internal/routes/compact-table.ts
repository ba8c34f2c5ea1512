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
 * A slot's key offset, hash, product and value sit side by side in one
 * Uint32Array (16 bytes), so a probe costs one cache line plus one arena
 * read for the key compare — memory latency, not arithmetic, is what a
 * large table pays for.
 */
const EMPTY = 0;
const TOMBSTONE = 0xffffffff;
const MAX_LOAD = 0.7;
/** Slot layout in `slots`: key offset + 1 (or EMPTY/TOMBSTONE), hash, product, endpoint << 8 | flags. */
const STRIDE = 4;
const KEY = 0;
const HASH = 1;
const PRODUCT = 2;
const VALUE = 3;

export interface Entry {
  endpoint: number;
  flags: number;
  generation: number;
}

export class CompactKeyTable {
  private capacity: number;
  private mask: number;
  private slots: Uint32Array;
  private generations: Uint32Array;
  private arena: Buffer;
  private arenaUsed = 1; // offset 0 is never used, so key offset + 1 > 0
  private live = 0;
  private tombstones = 0;

  constructor(initialCapacity = 1024) {
    let cap = 16;
    while (cap < initialCapacity / MAX_LOAD) cap *= 2;
    this.capacity = cap;
    this.mask = cap - 1;
    this.slots = new Uint32Array(cap * STRIDE);
    this.generations = new Uint32Array(cap);
    this.arena = Buffer.allocUnsafe(Math.max(1024, initialCapacity * 24));
  }

  get size(): number {
    return this.live;
  }

  /** Bytes held off the JS heap (slots and arena). */
  get byteSize(): number {
    return this.slots.byteLength + this.generations.byteLength + this.arena.length;
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

  private keyEquals(keyRef: number, name: string): boolean {
    const off = keyRef - 1;
    const arena = this.arena;
    const len = arena[off]!;
    if (len !== name.length) return false;
    for (let i = 0; i < len; i++) if (arena[off + 1 + i] !== name.charCodeAt(i)) return false;
    return true;
  }

  /** Slot index of the key, or -1. */
  private find(product: number, name: string, h: number): number {
    const slots = this.slots;
    let i = h & this.mask;
    for (;;) {
      const base = i * STRIDE;
      const k = slots[base + KEY]!;
      if (k === EMPTY) return -1;
      if (k !== TOMBSTONE && slots[base + HASH] === h && slots[base + PRODUCT] === product && this.keyEquals(k, name)) return i;
      i = (i + 1) & this.mask;
    }
  }

  has(product: number, name: string): boolean {
    return this.find(product, name, CompactKeyTable.hash(product, name)) >= 0;
  }

  /** `endpoint * 256 + flags` of the entry, or -1: one probe sequence, no allocation. */
  packedOf(product: number, name: string): number {
    const s = this.find(product, name, CompactKeyTable.hash(product, name));
    return s < 0 ? -1 : this.slots[s * STRIDE + VALUE]!;
  }

  /** Endpoint index of the entry, or -1. */
  endpointOf(product: number, name: string): number {
    const v = this.packedOf(product, name);
    return v < 0 ? -1 : v >>> 8;
  }

  get(product: number, name: string): Entry | undefined {
    const s = this.find(product, name, CompactKeyTable.hash(product, name));
    if (s < 0) return undefined;
    const v = this.slots[s * STRIDE + VALUE]!;
    return { endpoint: v >>> 8, flags: v & 0xff, generation: this.generations[s]! };
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

  /** Inserts or replaces. Names must be 1–255 ASCII chars; endpoint < 2^24, flags < 256. */
  set(product: number, name: string, e: Entry): void {
    if (name.length === 0 || name.length > 255) throw new RangeError("key length must be 1-255");
    const value = ((e.endpoint & 0xffffff) * 256 + (e.flags & 0xff)) >>> 0;
    const h = CompactKeyTable.hash(product, name);
    const found = this.find(product, name, h);
    if (found >= 0) {
      this.slots[found * STRIDE + VALUE] = value;
      this.generations[found] = e.generation;
      return;
    }
    if ((this.live + this.tombstones + 1) / this.capacity > MAX_LOAD) this.rehash();
    const slots = this.slots;
    let i = h & this.mask;
    while (slots[i * STRIDE + KEY] !== EMPTY && slots[i * STRIDE + KEY] !== TOMBSTONE) i = (i + 1) & this.mask;
    if (slots[i * STRIDE + KEY] === TOMBSTONE) this.tombstones--;
    const base = i * STRIDE;
    slots[base + KEY] = this.appendKey(name);
    slots[base + HASH] = h;
    slots[base + PRODUCT] = product;
    slots[base + VALUE] = value;
    this.generations[i] = e.generation;
    this.live++;
  }

  delete(product: number, name: string): boolean {
    const s = this.find(product, name, CompactKeyTable.hash(product, name));
    if (s < 0) return false;
    this.slots[s * STRIDE + KEY] = TOMBSTONE;
    this.live--;
    this.tombstones++;
    return true;
  }

  /** Rebuilds at a capacity fitting the live entries, compacting the arena. */
  private rehash(): void {
    let cap = this.capacity;
    while ((this.live + 1) / cap > MAX_LOAD / 2) cap *= 2;
    const oldSlots = this.slots;
    const oldGens = this.generations;
    const oldArena = this.arena;
    const oldCapacity = this.capacity;
    this.capacity = cap;
    this.mask = cap - 1;
    this.slots = new Uint32Array(cap * STRIDE);
    this.generations = new Uint32Array(cap);
    this.arena = Buffer.allocUnsafe(Math.max(1024, this.arenaUsed));
    this.arenaUsed = 1;
    this.tombstones = 0;
    for (let s = 0; s < oldCapacity; s++) {
      const ob = s * STRIDE;
      const k = oldSlots[ob + KEY]!;
      if (k === EMPTY || k === TOMBSTONE) continue;
      const off = k - 1;
      const len = oldArena[off]!;
      const newOff = this.arenaUsed;
      oldArena.copy(this.arena, newOff, off, off + 1 + len);
      this.arenaUsed += 1 + len;
      let i = oldSlots[ob + HASH]! & this.mask;
      while (this.slots[i * STRIDE + KEY] !== EMPTY) i = (i + 1) & this.mask;
      const nb = i * STRIDE;
      this.slots[nb + KEY] = newOff + 1;
      this.slots[nb + HASH] = oldSlots[ob + HASH]!;
      this.slots[nb + PRODUCT] = oldSlots[ob + PRODUCT]!;
      this.slots[nb + VALUE] = oldSlots[ob + VALUE]!;
      this.generations[i] = oldGens[s]!;
    }
  }
}
