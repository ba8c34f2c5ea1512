import type { Server } from "node:net";
import type { AddressInfo } from "node:net";

/** Splits `host:port` (IPv6 in brackets). */
export function splitHostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(":");
  const host = addr.slice(0, i).replace(/^\[(.*)\]$/, "$1");
  return { host, port: Number(addr.slice(i + 1)) };
}

export function joinHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

export function listen(server: Server, addr: string): Promise<string> {
  const { host, port } = splitHostPort(addr);
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      const a = server.address() as AddressInfo;
      resolve(joinHostPort(a.address, a.port));
    });
  });
}
