import { randomBytes } from "node:crypto";
import { SipKey, sip13Parts } from "./siphash.js";

/**
 * An exact, off-heap hash table from (productKey, DeviceName) to a small
 * value, built for tens to hundreds of millions of routes on one daemon.
 *
 * A slot is five uint32 in one Uint32Array (20 bytes): the key's 128-bit
 * keyed SipHash fingerprint and the value. The names themselves are not
 * kept: SQLite has them. Two distinct names share a fingerprint with
 * probability about n²/2^129 (4·10^-24 at 50M routes), and because the
 * SipHash key is random per process, nobody can construct such a pair —
 * so a lookup never returns another device's route.
 *
 * Open addressing, linear probing, tombstones. The slot count is not a
 * power of two: the probe start is the fingerprint's first word scaled to
 * the capacity, and the table grows by 1.5× at 80% occupancy, so memory
 * stays between 25 and 37.5 bytes per route at every size. The JS heap
 * holds a handful of objects whatever the size; lookups allocate nothing.
 */
const STRIDE = 5;
const VALUE = 4;
/**
 * Slot value 0 is empty and 1 is a tombstone; a live value is
 * (payload + 1) << 8 | flags, so ≥ 256 and below 2^31: everything stays in
 * int32, which V8 keeps in registers (uint32 above 2^31 would be doubles).
 */
const EMPTY = 0;
const TOMBSTONE = 1;
const MAX_LOAD = 0.8;
const GROWTH = 1.5;
const MAX_PAYLOAD = 0x7ffffe;

/** What a snapshot keeps of a table. */
export interface FingerprintTableState {
  capacity: number;
  live: number;
  tombstones: number;
  key: Uint8Array;
  slots: Int32Array;
}

export class FingerprintTable {
  private capacity: number;
  private slots: Int32Array;
  private live = 0;
  private tombstones = 0;
  private readonly key: SipKey;
  private readonly keyBytes: Uint8Array;
  private readonly fp = new Int32Array(4);
  private stage = new Int32Array(0);
  private staged = 0;

  constructor(initialCapacity = 1024, sipKey: Uint8Array = randomBytes(16)) {
    this.key = new SipKey(sipKey);
    this.keyBytes = Uint8Array.from(sipKey);
    this.capacity = Math.max(16, Math.ceil(initialCapacity / MAX_LOAD));
    this.slots = new Int32Array(this.capacity * STRIDE);
  }

  /** The table as it is (for a snapshot): its slots (not copied), counts and SipHash key. */
  state(): FingerprintTableState {
    this.flushStaged();
    return { capacity: this.capacity, live: this.live, tombstones: this.tombstones, key: this.keyBytes, slots: this.slots };
  }

  /** A table from a snapshot's state (the slots are taken as they are). */
  static fromState(s: FingerprintTableState): FingerprintTable {
    if (s.slots.length !== s.capacity * STRIDE || s.live + s.tombstones > s.capacity || s.key.length !== 16) throw new RangeError("route snapshot: the table's sizes do not agree");
    const t = new FingerprintTable(16, s.key);
    t.capacity = s.capacity;
    t.slots = s.slots;
    t.live = s.live;
    t.tombstones = s.tombstones;
    return t;
  }

  get size(): number {
    return this.live;
  }

  /** Bytes held off the JS heap. */
  get byteSize(): number {
    return this.slots.byteLength;
  }

  /** Slot index holding the fingerprint in `this.fp`, or -(first free slot) - 1. */
  private probe(): number {
    const slots = this.slots;
    const cap = this.capacity;
    const f0 = this.fp[0]!;
    const f1 = this.fp[1]!;
    const f2 = this.fp[2]!;
    const f3 = this.fp[3]!;
    let i = Math.floor(((f0 >>> 0) * cap) / 4294967296);
    if (i >= cap) i = cap - 1;
    let free = -1;
    for (;;) {
      const b = i * STRIDE;
      const v = slots[b + VALUE]!;
      if (v === EMPTY) return -(free >= 0 ? free : i) - 1;
      if (v === TOMBSTONE) {
        if (free < 0) free = i;
      } else if (slots[b] === f0 && slots[b + 1] === f1 && slots[b + 2] === f2 && slots[b + 3] === f3) {
        return i;
      }
      if (++i === cap) i = 0;
    }
  }

  /** `payload << 8 | flags` of the entry, or -1 (also for a non-ASCII key): one probe sequence, no allocation. */
  get(productKey: string, deviceName: string): number {
    if (!sip13Parts(this.key, productKey, 0, productKey.length, deviceName, 0, deviceName.length, this.fp)) return -1;
    const s = this.probe();
    return s < 0 ? -1 : this.slots[s * STRIDE + VALUE]! - 256;
  }

  /** Inserts or replaces. payload < 2^23 - 1, flags < 256; keys are ASCII. */
  set(productKey: string, deviceName: string, payload: number, flags: number): void {
    if (!sip13Parts(this.key, productKey, 0, productKey.length, deviceName, 0, deviceName.length, this.fp)) throw new RangeError(`route key ${productKey}/${deviceName} is not ASCII`);
    this.insertFingerprint(payload, flags);
  }

  /** Sets aside room for staging `n` keys at a time (bulk loads; 0 releases it). */
  setStageSize(n: number): void {
    this.flushStaged();
    this.stage = new Int32Array(n * STRIDE);
  }

  /** Grows the table now so that `n` entries fit without rehashing (bulk loads). */
  reserve(n: number): void {
    if (n > this.capacity * MAX_LOAD) {
      let cap = this.capacity;
      while (n > cap * MAX_LOAD) cap = Math.ceil(cap * GROWTH);
      this.rehashTo(cap);
    }
  }

  /**
   * Hashes a key into a staging area instead of the table: a bulk load
   * stages many keys, then `flushStaged()` inserts them sorted by home
   * slot, so that the table is swept in address order instead of hit at
   * random (at 10M routes a random insert costs a cache and a TLB miss).
   */
  stageParts(s: string, pkStart: number, pkEnd: number, t: string, dnStart: number, dnEnd: number, payload: number, flags: number): void {
    if (payload < 0 || payload > MAX_PAYLOAD || flags < 0 || flags > 0xff) throw new RangeError("route value out of range");
    if (this.staged === this.stage.length / STRIDE) this.flushStaged(); // before hashing: the flush uses `fp`
    if (!sip13Parts(this.key, s, pkStart, pkEnd, t, dnStart, dnEnd, this.fp)) {
      throw new RangeError(`route key ${s.slice(pkStart, pkEnd)}/${t.slice(dnStart, dnEnd)} is not ASCII`);
    }
    const b = this.staged * STRIDE;
    const stage = this.stage;
    const fp = this.fp;
    stage[b] = fp[0]!;
    stage[b + 1] = fp[1]!;
    stage[b + 2] = fp[2]!;
    stage[b + 3] = fp[3]!;
    stage[b + VALUE] = (payload + 1) * 256 + flags;
    this.staged++;
  }

  /** Inserts every staged key, in the order of their home slots. */
  flushStaged(): void {
    const n = this.staged;
    if (n === 0) return;
    this.staged = 0;
    this.reserve(this.live + n);
    const stage = this.stage;
    // Counting sort on the top 16 bits of the first word: home slots are monotonic in it.
    const counts = new Int32Array(65537);
    for (let i = 0; i < n; i++) counts[(stage[i * STRIDE]! >>> 16) + 1]!++;
    for (let d = 1; d <= 65536; d++) counts[d]! += counts[d - 1]!;
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[counts[stage[i * STRIDE]! >>> 16]!++] = i;
    const fp = this.fp;
    for (let k = 0; k < n; k++) {
      const b = order[k]! * STRIDE;
      fp[0] = stage[b]!;
      fp[1] = stage[b + 1]!;
      fp[2] = stage[b + 2]!;
      fp[3] = stage[b + 3]!;
      const v = stage[b + VALUE]!;
      this.insertFingerprint((v >>> 8) - 1, v & 0xff);
    }
  }

  private insertFingerprint(payload: number, flags: number): void {
    if (payload < 0 || payload > MAX_PAYLOAD || flags < 0 || flags > 0xff) throw new RangeError("route value out of range");
    const value = (payload + 1) * 256 + flags;
    let s = this.probe();
    if (s >= 0) {
      this.slots[s * STRIDE + VALUE] = value;
      return;
    }
    if ((this.live + this.tombstones + 1) > this.capacity * MAX_LOAD) {
      this.rehash();
      s = this.probe();
    }
    const i = -s - 1;
    const b = i * STRIDE;
    if (this.slots[b + VALUE] === TOMBSTONE) this.tombstones--;
    const slots = this.slots;
    const fp = this.fp;
    slots[b] = fp[0]!;
    slots[b + 1] = fp[1]!;
    slots[b + 2] = fp[2]!;
    slots[b + 3] = fp[3]!;
    slots[b + VALUE] = value;
    this.live++;
  }

  delete(productKey: string, deviceName: string): boolean {
    if (!sip13Parts(this.key, productKey, 0, productKey.length, deviceName, 0, deviceName.length, this.fp)) return false;
    const s = this.probe();
    if (s < 0) return false;
    this.slots[s * STRIDE + VALUE] = TOMBSTONE;
    this.live--;
    this.tombstones++;
    return true;
  }

  /** Rebuilds at a capacity fitting the live entries (1.5× growth, tombstones dropped). */
  private rehash(): void {
    let cap = this.capacity;
    // Grow only when live entries (not tombstones) need the room: one 1.5x step from a full table.
    while (this.live + 1 > cap * MAX_LOAD * 0.7) cap = Math.ceil(cap * GROWTH);
    this.rehashTo(cap);
  }

  private rehashTo(cap: number): void {
    const old = this.slots;
    this.capacity = cap;
    this.slots = new Int32Array(cap * STRIDE);
    this.tombstones = 0;
    const slots = this.slots;
    for (let ob = 0; ob < old.length; ob += STRIDE) {
      const v = old[ob + VALUE]!;
      if (v < 256) continue;
      let i = Math.floor(((old[ob]! >>> 0) * cap) / 4294967296);
      if (i >= cap) i = cap - 1;
      while (slots[i * STRIDE + VALUE] !== EMPTY) if (++i === cap) i = 0;
      slots.set(old.subarray(ob, ob + STRIDE), i * STRIDE);
    }
  }
}
