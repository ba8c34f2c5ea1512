import { request } from "node:http";

/** Loopback source addresses the daemons locate by their CIDR overrides. */
export const EUROPE = "127.0.0.2";
export const AMERICA = "127.0.0.3";
export const SHANGHAI = "127.0.0.4";
/** The one trusted proxy (a load balancer in front of the edge). */
export const PROXY = "127.0.0.5";
/** A public address the packaged database puts in London. */
export const LONDON_PUBLIC = "81.2.69.142";

/** POST /auth/bootstrap from a chosen local address, with extra headers; the endpoint host, or "HTTP <status>". */
export function bootstrapFrom(addr: string, pk: string, dn: string, from: string, headers: Record<string, string> = {}): Promise<string> {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];
  const body = `productKey=${pk}&deviceName=${encodeURIComponent(dn)}&clientId=${pk}.${encodeURIComponent(dn)}&resources=mqtt`;
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port, localAddress: from, method: "POST", path: "/auth/bootstrap", agent: false, headers: { "content-type": "application/x-www-form-urlencoded;charset=utf-8", "content-length": Buffer.byteLength(body), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          if (res.statusCode !== 200) return resolve(`HTTP ${res.statusCode}`);
          resolve(JSON.parse(Buffer.concat(chunks).toString()).data.resources.mqtt.host as string);
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** The CIDR overrides that place those addresses (geo.overrides). */
export const GEO_OVERRIDES = [
  { cidr: `${EUROPE}/32`, region: "eu-central-1" },
  { cidr: `${AMERICA}/32`, latitude: 37.77, longitude: -122.42 }, // San Francisco
  { cidr: `${SHANGHAI}/32`, region: "cn-shanghai" },
];
