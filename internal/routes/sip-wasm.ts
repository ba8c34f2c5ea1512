/**
 * SipHash-1-3-128 rounds in WebAssembly: 64-bit adds and rotations are one
 * instruction each there, where JavaScript needs a dozen 32-bit operations
 * with carries — and the rounds are most of a bootstrap lookup's cost.
 *
 * The module is assembled here from its instructions (no toolchain, no
 * binary blob in the repository) and is tiny: one exported function
 * `hash(final)` and one page of memory laid out as
 *
 *   [0, 1024)     the message, already padded: zeros after it and the
 *                 length in the top byte of the last 8-byte block, which
 *                 starts at byte `final`
 *   [1024, 1040)  the key (k0, k1, little-endian)
 *   [1040, 1056)  the output (two little-endian 64-bit words)
 *
 * Each SipKey gets its own instance (its own memory holding its key).
 * `test/unit/routes.test.ts` checks it against OpenSSL's SipHash vectors.
 */

export const MSG_MAX = 1024;
export const KEY_OFFSET = 1024;
export const OUT_OFFSET = 1040;

// Opcodes used.
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const I32_CONST = 0x41;
const I64_CONST = 0x42;
const I64_LOAD = 0x29;
const I64_STORE = 0x37;
const I64_ADD = 0x7c;
const I64_XOR = 0x85;
const I64_ROTL = 0x89;
const I32_ADD = 0x6a;
const I32_GE_U = 0x4f;
const BLOCK = 0x02;
const LOOP = 0x03;
const BR = 0x0c;
const BR_IF = 0x0d;
const END = 0x0b;
const VOID = 0x40;
const I32 = 0x7f;
const I64 = 0x7e;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb64(v: bigint): number[] {
  let x = BigInt.asIntN(64, v);
  const out: number[] = [];
  for (;;) {
    const b = Number(x & 0x7fn);
    x >>= 7n;
    if ((x === 0n && (b & 0x40) === 0) || (x === -1n && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

// Locals: 0 = final (param, i32), 1..4 = v0..v3, 5 = m (i64), 6 = i (i32).
const P_FINAL = 0;
const V0 = 1;
const V1 = 2;
const V2 = 3;
const V3 = 4;
const M = 5;
const I = 6;

const add = (a: number, b: number) => [LOCAL_GET, a, LOCAL_GET, b, I64_ADD, LOCAL_SET, a];
const xor = (a: number, b: number) => [LOCAL_GET, a, LOCAL_GET, b, I64_XOR, LOCAL_SET, a];
const rotl = (a: number, n: number) => [LOCAL_GET, a, I64_CONST, ...sleb64(BigInt(n)), I64_ROTL, LOCAL_SET, a];
const xorConst = (a: number, c: bigint) => [LOCAL_GET, a, I64_CONST, ...sleb64(c), I64_XOR, LOCAL_SET, a];
const memarg = (offset: number) => [3, ...uleb(offset)];

const ROUND = [
  ...add(V0, V1), ...rotl(V1, 13), ...xor(V1, V0), ...rotl(V0, 32),
  ...add(V2, V3), ...rotl(V3, 16), ...xor(V3, V2),
  ...add(V0, V3), ...rotl(V3, 21), ...xor(V3, V0),
  ...add(V2, V1), ...rotl(V1, 17), ...xor(V1, V2), ...rotl(V2, 32),
];

/** v0 ^ v1 ^ v2 ^ v3 stored at OUT_OFFSET + at. */
const storeOut = (at: number) => [
  I32_CONST, 0,
  LOCAL_GET, V0, LOCAL_GET, V1, I64_XOR, LOCAL_GET, V2, I64_XOR, LOCAL_GET, V3, I64_XOR,
  I64_STORE, ...memarg(OUT_OFFSET + at),
];

const initV = (v: number, keyAt: number, c: bigint) => [I32_CONST, 0, I64_LOAD, ...memarg(KEY_OFFSET + keyAt), I64_CONST, ...sleb64(c), I64_XOR, LOCAL_SET, v];

function body(): number[] {
  const code = [
    ...initV(V0, 0, 0x736f6d6570736575n),
    ...initV(V1, 8, 0x646f72616e646f6dn ^ 0xeen),
    ...initV(V2, 0, 0x6c7967656e657261n),
    ...initV(V3, 8, 0x7465646279746573n),
    I32_CONST, 0, LOCAL_SET, I,
    BLOCK, VOID,
    LOOP, VOID,
    LOCAL_GET, I, I64_LOAD, ...memarg(0), LOCAL_SET, M,
    ...xor(V3, M),
    ...ROUND,
    ...xor(V0, M),
    LOCAL_GET, I, LOCAL_GET, P_FINAL, I32_GE_U, BR_IF, 1,
    LOCAL_GET, I, I32_CONST, 8, I32_ADD, LOCAL_SET, I,
    BR, 0,
    END,
    END,
    ...xorConst(V2, 0xeen),
    ...ROUND, ...ROUND, ...ROUND,
    ...storeOut(0),
    ...xorConst(V1, 0xddn),
    ...ROUND, ...ROUND, ...ROUND,
    ...storeOut(8),
    END,
  ];
  const locals = [2, ...uleb(4 + 1), I64, 1, I32];
  const fn = [...locals, ...code];
  return [...uleb(fn.length), ...fn];
}

const section = (id: number, payload: number[]) => [id, ...uleb(payload.length), ...payload];
const name = (s: string) => [...uleb(s.length), ...Buffer.from(s, "ascii")];

function moduleBytes(): Uint8Array {
  const fnBody = body();
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 1, I32, 0]), // type 0: (i32) -> ()
    ...section(3, [1, 0]), // function 0 has type 0
    ...section(5, [1, 0x00, 1]), // one memory, 1 page
    ...section(7, [2, ...name("mem"), 0x02, 0, ...name("hash"), 0x00, 0]),
    ...section(10, [1, ...fnBody]),
  ]);
}

/** The part of the WebAssembly JS API used here (the compiler's lib has no WebAssembly types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: { mem: { buffer: ArrayBuffer }; hash: (final: number) => void } };
}
const wasmApi = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
let compiled: object | undefined;

export interface SipWasm {
  /** The message area and output as int32 words (views on the instance's memory). */
  words: Int32Array;
  hash(final: number): void;
}

/** A new instance holding `key` (16 bytes), or undefined where WebAssembly is unavailable. */
export function sipWasm(key: Uint8Array): SipWasm | undefined {
  if (wasmApi === undefined) return undefined;
  compiled ??= new wasmApi.Module(moduleBytes());
  const inst = new wasmApi.Instance(compiled, {});
  const buffer = inst.exports.mem.buffer;
  new Uint8Array(buffer).set(key, KEY_OFFSET);
  return { words: new Int32Array(buffer), hash: inst.exports.hash };
}
