/**
 * Keys of the routes bucket. NATS subject tokens cannot hold `.`, `*`, `>`
 * or spaces, and KV keys allow only `[-/_=.A-Za-z0-9]`, while DeviceNames
 * may hold `.`, `@` and `:`. A token keeps letters, digits and `-`; every
 * other byte (of the UTF-8 form) becomes `_XX`, its hex value — `_` itself
 * included, so decoding is unambiguous and any name is safe.
 */
const SAFE = /^[A-Za-z0-9-]$/;
const ALL_SAFE = /^[A-Za-z0-9-]*$/;
const HEX = "0123456789ABCDEF";


/** Each ASCII character's token form. */
const ASCII = Array.from({ length: 128 }, (_, c) => (SAFE.test(String.fromCharCode(c)) ? String.fromCharCode(c) : `_${HEX[c >> 4]!}${HEX[c & 15]!}`));

export function encodeToken(s: string): string {
  if (ALL_SAFE.test(s)) return s;
  let out = "";
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (c < 128) out += ASCII[c]!;
    else for (const b of Buffer.from(ch, "utf8")) out += `_${HEX[b >> 4]!}${HEX[b & 15]!}`;
  }
  return out;
}

export function decodeToken(t: string): string {
  if (!/^(?:[A-Za-z0-9-]|_[0-9A-F]{2})*$/.test(t)) throw new Error(`not an encoded key token: ${t}`);
  const bytes: number[] = [];
  for (let i = 0; i < t.length; i++) {
    if (t[i] === "_") {
      bytes.push(parseInt(t.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(t.charCodeAt(i));
  }
  return Buffer.from(bytes).toString("utf8");
}
