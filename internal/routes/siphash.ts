/**
 * SipHash with a 128-bit output (Aumasson & Bernstein), over the bytes of
 * `productKey ‖ 0x00 ‖ deviceName` read straight from the two strings, with
 * no allocation. SipHash is a keyed pseudo-random function: with a secret
 * random key nobody can choose two device names whose fingerprints collide,
 * which is what lets the RouteTable keep a 128-bit fingerprint instead of
 * the name and still never answer one device with another's route.
 *
 * The rounds run in WebAssembly (sip-wasm.ts) where it is available; the
 * JavaScript rounds below are the fallback and the reference for other
 * round counts. There, 64-bit words are held as (hi, lo) pairs of int32 in
 * locals (never `>>> 0`: uint32 values above 2^31 would leave V8's int32
 * registers for doubles).
 *
 * Keys are ASCII by SPEC; a string with a char above 0x7f is reported as
 * not hashable (returns false) rather than folded onto an ASCII name.
 */

/** Compression rounds per block and finalization rounds: SipHash-1-3, as Rust's std HashMap. */
export const SIP_C_ROUNDS = 1;
export const SIP_D_ROUNDS = 3;

import { sipWasm, OUT_OFFSET, type SipWasm } from "./sip-wasm.js";

/** Longest message hashed (productKey + 1 + deviceName, far below it). */
const MAX_INPUT = 1016;
/** Flipping the sign bit maps unsigned order onto signed order (carry test in int32). */
const SIGN = -0x80000000;
const SCRATCH32 = new Int32Array(256);
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error("siphash: a little-endian machine is required");

export class SipKey {
  /** SipHash-1-3 in WebAssembly with this key, where available (the fast path). */
  readonly wasm: SipWasm | undefined;
  readonly k0lo: number;
  readonly k0hi: number;
  readonly k1lo: number;
  readonly k1hi: number;
  constructor(key: Uint8Array) {
    if (key.length !== 16) throw new RangeError("SipHash key must be 16 bytes");
    const dv = new DataView(key.buffer, key.byteOffset, 16);
    this.k0lo = dv.getInt32(0, true);
    this.k0hi = dv.getInt32(4, true);
    this.k1lo = dv.getInt32(8, true);
    this.k1hi = dv.getInt32(12, true);
    this.wasm = sipWasm(key);
  }
}

/**
 * Writes the 128-bit SipHash-c-d of `a ‖ 0x00 ‖ b` into out[0..3], with the
 * JavaScript rounds
 * (little-endian words: out[0] is the low half of the first output word).
 * Returns false, leaving `out` unspecified, if either string has a non-ASCII
 * char or the message is over 1,016 bytes.
 */
export function sip128(key: SipKey, a: string, b: string, out: Int32Array, cRounds = SIP_C_ROUNDS, dRounds = SIP_D_ROUNDS): boolean {
  return sip128Parts(key, a, 0, a.length, b, 0, b.length, out, cRounds, dRounds);
}

/**
 * Loads `sa[aStart..aEnd) ‖ 0x00 ‖ sb[bStart..bEnd)` into `words` as
 * SipHash blocks: little-endian 32-bit words, zeros after the message and
 * its length in the top byte of the last 8-byte block. Words are assembled
 * in a register and stored whole (byte stores read back as words would
 * stall store-to-load forwarding). Returns the byte offset of the last
 * block, or -1 for a non-ASCII char or a message over MAX_INPUT.
 */
function loadMessage(sa: string, aStart: number, aEnd: number, sb: string, bStart: number, bEnd: number, words: Int32Array): number {
  const al = aEnd - aStart;
  const bl = bEnd - bStart;
  const len = al + 1 + bl;
  if (len > MAX_INPUT) return -1;
  let invalid = 0;
  let acc = 0;
  let shift = 0;
  let wi = 0;
  for (let i = 0; i < al; i++) {
    const c = sa.charCodeAt(aStart + i);
    invalid |= c;
    acc |= c << shift;
    shift += 8;
    if (shift === 32) {
      words[wi++] = acc;
      acc = 0;
      shift = 0;
    }
  }
  // the 0x00 separator
  shift += 8;
  if (shift === 32) {
    words[wi++] = acc;
    acc = 0;
    shift = 0;
  }
  for (let i = 0; i < bl; i++) {
    const c = sb.charCodeAt(bStart + i);
    invalid |= c;
    acc |= c << shift;
    shift += 8;
    if (shift === 32) {
      words[wi++] = acc;
      acc = 0;
      shift = 0;
    }
  }
  if (invalid > 0x7f) return -1;
  const full = len & ~7;
  const lastWord = full >>> 2;
  words[wi] = acc;
  if (wi === lastWord) words[lastWord + 1] = (len & 0xff) << 24;
  else words[lastWord + 1] = acc | ((len & 0xff) << 24);
  return full;
}

/** SipHash-c-d rounds in JavaScript over blocks loaded by `loadMessage`. */
function jsRounds(key: SipKey, words: Int32Array, full: number, out: Int32Array, cRounds: number, dRounds: number): void {
  let v0h = key.k0hi ^ 0x736f6d65;
  let v0l = key.k0lo ^ 0x70736575;
  let v1h = key.k1hi ^ 0x646f7261;
  let v1l = key.k1lo ^ 0x6e646f6d ^ 0xee;
  let v2h = key.k0hi ^ 0x6c796765;
  let v2l = key.k0lo ^ 0x6e657261;
  let v3h = key.k1hi ^ 0x74656462;
  let v3l = key.k1lo ^ 0x79746573;
  let t: number;
  let lo: number;
  const lastWord = full >>> 2;
  for (let w = 0; w <= lastWord; w += 2) {
    const ml = words[w]!;
    const mh = words[w + 1]!;
    v3l ^= ml;
    v3h ^= mh;
    for (let r = 0; r < cRounds; r++) {
      lo = (v0l + v1l) | 0; v0h = (v0h + v1h + ((lo ^ SIGN) < (v0l ^ SIGN) ? 1 : 0)) | 0; v0l = lo;
      t = v1h; v1h = (v1h << 13) | (v1l >>> 19); v1l = (v1l << 13) | (t >>> 19);
      v1h ^= v0h; v1l ^= v0l;
      t = v0h; v0h = v0l; v0l = t;
      lo = (v2l + v3l) | 0; v2h = (v2h + v3h + ((lo ^ SIGN) < (v2l ^ SIGN) ? 1 : 0)) | 0; v2l = lo;
      t = v3h; v3h = (v3h << 16) | (v3l >>> 16); v3l = (v3l << 16) | (t >>> 16);
      v3h ^= v2h; v3l ^= v2l;
      lo = (v0l + v3l) | 0; v0h = (v0h + v3h + ((lo ^ SIGN) < (v0l ^ SIGN) ? 1 : 0)) | 0; v0l = lo;
      t = v3h; v3h = (v3h << 21) | (v3l >>> 11); v3l = (v3l << 21) | (t >>> 11);
      v3h ^= v0h; v3l ^= v0l;
      lo = (v2l + v1l) | 0; v2h = (v2h + v1h + ((lo ^ SIGN) < (v2l ^ SIGN) ? 1 : 0)) | 0; v2l = lo;
      t = v1h; v1h = (v1h << 17) | (v1l >>> 15); v1l = (v1l << 17) | (t >>> 15);
      v1h ^= v2h; v1l ^= v2l;
      t = v2h; v2h = v2l; v2l = t;
    }
    v0l ^= ml;
    v0h ^= mh;
  }
  for (let half = 0; half < 2; half++) {
    if (half === 0) v2l ^= 0xee;
    else v1l ^= 0xdd;
    for (let r = 0; r < dRounds; r++) {
      lo = (v0l + v1l) | 0; v0h = (v0h + v1h + ((lo ^ SIGN) < (v0l ^ SIGN) ? 1 : 0)) | 0; v0l = lo;
      t = v1h; v1h = (v1h << 13) | (v1l >>> 19); v1l = (v1l << 13) | (t >>> 19);
      v1h ^= v0h; v1l ^= v0l;
      t = v0h; v0h = v0l; v0l = t;
      lo = (v2l + v3l) | 0; v2h = (v2h + v3h + ((lo ^ SIGN) < (v2l ^ SIGN) ? 1 : 0)) | 0; v2l = lo;
      t = v3h; v3h = (v3h << 16) | (v3l >>> 16); v3l = (v3l << 16) | (t >>> 16);
      v3h ^= v2h; v3l ^= v2l;
      lo = (v0l + v3l) | 0; v0h = (v0h + v3h + ((lo ^ SIGN) < (v0l ^ SIGN) ? 1 : 0)) | 0; v0l = lo;
      t = v3h; v3h = (v3h << 21) | (v3l >>> 11); v3l = (v3l << 21) | (t >>> 11);
      v3h ^= v0h; v3l ^= v0l;
      lo = (v2l + v1l) | 0; v2h = (v2h + v1h + ((lo ^ SIGN) < (v2l ^ SIGN) ? 1 : 0)) | 0; v2l = lo;
      t = v1h; v1h = (v1h << 17) | (v1l >>> 15); v1l = (v1l << 17) | (t >>> 15);
      v1h ^= v2h; v1l ^= v2l;
      t = v2h; v2h = v2l; v2l = t;
    }
    out[half * 2] = v0l ^ v1l ^ v2l ^ v3l;
    out[half * 2 + 1] = v0h ^ v1h ^ v2h ^ v3h;
  }
}

/**
 * As `sip128`, over `sa[aStart..aEnd) ‖ 0x00 ‖ sb[bStart..bEnd)`: hashes
 * fields of a larger string (a bulk load) without slicing them out. Always
 * the JavaScript rounds (any c, d): the reference the WebAssembly path is
 * tested against.
 */
export function sip128Parts(
  key: SipKey,
  sa: string,
  aStart: number,
  aEnd: number,
  sb: string,
  bStart: number,
  bEnd: number,
  out: Int32Array,
  cRounds = SIP_C_ROUNDS,
  dRounds = SIP_D_ROUNDS,
): boolean {
  const full = loadMessage(sa, aStart, aEnd, sb, bStart, bEnd, SCRATCH32);
  if (full < 0) return false;
  jsRounds(key, SCRATCH32, full, out, cRounds, dRounds);
  return true;
}

/**
 * SipHash-1-3-128 of `sa[aStart..aEnd) ‖ 0x00 ‖ sb[bStart..bEnd)`: the hot
 * path of every bootstrap lookup, in WebAssembly where available. Same
 * contract as `sip128Parts` with the default rounds.
 */
export function sip13Parts(key: SipKey, sa: string, aStart: number, aEnd: number, sb: string, bStart: number, bEnd: number, out: Int32Array): boolean {
  const wasm = key.wasm;
  const words = wasm === undefined ? SCRATCH32 : wasm.words;
  const full = loadMessage(sa, aStart, aEnd, sb, bStart, bEnd, words);
  if (full < 0) return false;
  if (wasm === undefined) {
    jsRounds(key, words, full, out, SIP_C_ROUNDS, SIP_D_ROUNDS);
    return true;
  }
  wasm.hash(full);
  const o = OUT_OFFSET >>> 2;
  out[0] = words[o]!;
  out[1] = words[o + 1]!;
  out[2] = words[o + 2]!;
  out[3] = words[o + 3]!;
  return true;
}
