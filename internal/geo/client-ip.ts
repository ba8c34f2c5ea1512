import { CidrSet, normalizeIp } from "./ip.js";

/** One `for=` value of a Forwarded element: strips quotes, brackets and a port. */
function forwardedNode(v: string): string {
  let s = v.trim();
  if (s.startsWith('"') && s.endsWith('"') && s.length >= 2) s = s.slice(1, -1);
  if (s.startsWith("[")) {
    const close = s.indexOf("]");
    return close < 0 ? "" : s.slice(1, close);
  }
  // host:port for IPv4 (an unbracketed IPv6 address has several colons)
  const colon = s.indexOf(":");
  if (colon >= 0 && s.indexOf(":", colon + 1) < 0) return s.slice(0, colon);
  return s;
}

/** The addresses a proxy chain reports, client first (RFC 7239 `for=`). */
export function parseForwarded(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    for (const element of v.split(",")) {
      for (const pair of element.split(";")) {
        const eq = pair.indexOf("=");
        if (eq < 0) continue;
        if (pair.slice(0, eq).trim().toLowerCase() === "for") out.push(forwardedNode(pair.slice(eq + 1)));
      }
    }
  }
  return out;
}

/** The addresses of an X-Forwarded-For chain, client first. */
export function parseXForwardedFor(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of values) for (const part of v.split(",")) out.push(forwardedNode(part));
  return out;
}

export type ClientIpResolver = ReturnType<typeof createClientIpResolver>;

/**
 * The client address a device is placed by. It is the TCP peer's address,
 * unless that peer is a configured trusted proxy: then the proxy chain in
 * `Forwarded` (preferred) or `X-Forwarded-For` is read from the right,
 * skipping trusted proxies, and the first address that is not one is the
 * client. A header from any other peer is ignored — a device must not
 * choose its region by a header.
 */
export function createClientIpResolver(trustedProxies: readonly string[]) {
  const trusted = new CidrSet(trustedProxies);
  const isTrusted = (ip: string): boolean => {
    const n = normalizeIp(ip);
    return n !== undefined && trusted.has(n.address, n.family);
  };
  return {
    trusts: (address: string): boolean => trusted.size > 0 && isTrusted(address),
    /**
     * `rawHeaders` as node:http gives them (name, value, name, value…); read
     * only when the peer is trusted.
     */
    resolve(peer: string, rawHeaders: readonly string[]): string {
      if (trusted.size === 0 || !isTrusted(peer)) return peer;
      const forwarded: string[] = [];
      const xff: string[] = [];
      for (let i = 0; i < rawHeaders.length; i += 2) {
        const h = rawHeaders[i]!;
        if (h.length === 9 && h.toLowerCase() === "forwarded") forwarded.push(rawHeaders[i + 1]!);
        else if (h.length === 15 && h.toLowerCase() === "x-forwarded-for") xff.push(rawHeaders[i + 1]!);
      }
      const chain = forwarded.length > 0 ? parseForwarded(forwarded) : parseXForwardedFor(xff);
      for (let i = chain.length - 1; i >= 0; i--) {
        const hop = chain[i]!;
        const n = normalizeIp(hop);
        // A hop that is not an address ("unknown", an obfuscated id, garbage)
        // ends the chain we can trust: place by the proxy's own address.
        if (n === undefined) return peer;
        if (!trusted.has(n.address, n.family)) return n.address;
      }
      return chain.length > 0 ? (normalizeIp(chain[0]!)?.address ?? peer) : peer;
    },
  };
}
