import { BlockList, isIPv4, isIPv6 } from "node:net";

export type IpFamily = "ipv4" | "ipv6";

/**
 * An address as the edge sees it, in one canonical text form: an
 * IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a dual-stack socket
 * reports for IPv4 clients) becomes its IPv4 form, so overrides, proxies and
 * the database see one address, not two. Undefined when it is not an address.
 */
export function normalizeIp(text: string): { address: string; family: IpFamily } | undefined {
  let s = text;
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  if (isIPv4(s)) return { address: s, family: "ipv4" };
  if (!isIPv6(s)) return undefined;
  const lower = s.toLowerCase();
  if (lower.startsWith("::ffff:")) {
    const tail = lower.slice(7);
    if (isIPv4(tail)) return { address: tail, family: "ipv4" };
  }
  return { address: lower, family: "ipv6" };
}

/** A parsed CIDR block (`10.0.0.0/8`, `2001:db8::/32`; a bare address is a /32 or /128). */
export interface Cidr {
  readonly text: string;
  readonly family: IpFamily;
  readonly prefix: number;
  contains(address: string, family: IpFamily): boolean;
}

/** Parses a CIDR block; throws with the reason when it is not one. */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf("/");
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const ip = normalizeIp(addrText);
  if (ip === undefined) throw new Error(`${text} is not an IP address or CIDR block`);
  const max = ip.family === "ipv4" ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) throw new Error(`${text}: prefix length must be 0-${max}`);
  const prefix = Number(prefixText);
  const list = new BlockList();
  list.addSubnet(ip.address, prefix, ip.family);
  return {
    text,
    family: ip.family,
    prefix,
    contains: (address, family) => family === ip.family && list.check(address, family),
  };
}

/** A set of CIDR blocks (e.g. trusted proxies). */
export class CidrSet {
  private readonly v4 = new BlockList();
  private readonly v6 = new BlockList();
  readonly size: number;

  constructor(blocks: readonly string[]) {
    for (const b of blocks) {
      const c = parseCidr(b);
      const ip = normalizeIp(b.split("/")[0]!)!;
      (c.family === "ipv4" ? this.v4 : this.v6).addSubnet(ip.address, c.prefix, c.family);
    }
    this.size = blocks.length;
  }

  has(address: string, family: IpFamily): boolean {
    return this.size > 0 && (family === "ipv4" ? this.v4.check(address, "ipv4") : this.v6.check(address, "ipv6"));
  }
}
