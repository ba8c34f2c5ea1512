import { randomBytes } from "node:crypto";
import { SipKey, sip128 } from "./siphash.js";

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
/** Slot value 0 is empty and 1 is a tombstone; a live value is (payload + 1) << 8 | flags, so ≥ 256. */
const EMPTY = 0;
const TOMBSTONE = 1;
const MAX_LOAD = 0.8;
const GROWTH = 1.5;
const MAX_PAYLOAD = 0xfffffe;

export class FingerprintTable {
  private capacity: number;
  private slots: Uint32Array;
  private live = 0;
  private tombstones = 0;
  private readonly key: SipKey;
  private readonly fp = new Uint32Array(4);

  constructor(initialCapacity = 1024, sipKey: Uint8Array = randomBytes(16)) {
    this.key = new SipKey(sipKey);
    this.capacity = Math.max(16, Math.ceil(initialCapacity / MAX_LOAD));
    this.slots = new Uint32Array(this.capacity * STRIDE);
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
    let i = Math.floor((f0 * cap) / 4294967296);
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
    if (!sip128(this.key, productKey, deviceName, this.fp)) return -1;
    const s = this.probe();
    return s < 0 ? -1 : this.slots[s * STRIDE + VALUE]! - 256;
  }

  /** Inserts or replaces. payload < 2^24 - 1, flags < 256; keys are ASCII. */
  set(productKey: string, deviceName: string, payload: number, flags: number): void {
    if (payload < 0 || payload > MAX_PAYLOAD || flags < 0 || flags > 0xff) throw new RangeError("route value out of range");
    if (!sip128(this.key, productKey, deviceName, this.fp)) throw new RangeError(`route key ${productKey}/${deviceName} is not ASCII`);
    const value = ((payload + 1) * 256 + flags) >>> 0;
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
    this.slots.set(this.fp, b);
    this.slots[b + VALUE] = value;
    this.live++;
  }

  delete(productKey: string, deviceName: string): boolean {
    if (!sip128(this.key, productKey, deviceName, this.fp)) return false;
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
    const old = this.slots;
    this.capacity = cap;
    this.slots = new Uint32Array(cap * STRIDE);
    this.tombstones = 0;
    const slots = this.slots;
    for (let ob = 0; ob < old.length; ob += STRIDE) {
      const v = old[ob + VALUE]!;
      if (v < 256) continue;
      let i = Math.floor((old[ob]! * cap) / 4294967296);
      if (i >= cap) i = cap - 1;
      while (slots[i * STRIDE + VALUE] !== EMPTY) if (++i === cap) i = 0;
      slots.set(old.subarray(ob, ob + STRIDE), i * STRIDE);
    }
  }
}
