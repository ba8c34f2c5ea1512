import type { Server } from "node:net";
import type { Socket } from "node:net";
import { normalizeIp } from "../geo/index.js";

export interface EdgeLimits {
  /** Open connections at once; more are closed at accept. */
  maxConnections: number;
  /** Open connections from one address (an IPv6 /64 counts as one). */
  maxConnectionsPerIp: number;
  /** Sustained requests per second from one address, with `burst` on top. */
  ratePerIp: number;
  burst: number;
  /** Addresses tracked by the rate limiter at most (memory bound). */
  maxTracked: number;
}

/** The key a client is limited by: its IPv4 address, or its IPv6 /64 (one host gets a whole /64). */
export function limitKey(address: string): string {
  const n = normalizeIp(address);
  if (n === undefined) return address;
  if (n.family === "ipv4") return n.address;
  // expand enough of the address to take its first four groups
  const [head = "", tail = ""] = n.address.split("::");
  const h = head === "" ? [] : head.split(":");
  const t = tail === "" ? [] : tail.split(":");
  const groups = n.address.includes("::") ? [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t] : h;
  return `${groups.slice(0, 4).join(":")}::/64`;
}

export type EdgeLimiter = ReturnType<typeof createEdgeLimiter>;

/**
 * The device edge's limits (a fleet reconnecting at once, or one noisy
 * client, must not starve the rest): connections in total and per address,
 * checked at accept, and a token bucket of requests per address, checked
 * per request. Every map is bounded: connections by the connection limit,
 * buckets by `maxTracked` (idle buckets are swept; when full, the oldest
 * go first — a client that was forgotten starts with a full bucket).
 */
export function createEdgeLimiter(limits: EdgeLimits, shed: (reason: "connections" | "connections_per_ip" | "rate") => void, now: () => number = () => performance.now()) {
  const perIp = new Map<string, number>();
  let open = 0;
  const buckets = new Map<string, { tokens: number; at: number }>();
  const refillPerMs = limits.ratePerIp / 1000;

  const sweep = (): void => {
    const t = now();
    for (const [k, b] of buckets) if (b.tokens + (t - b.at) * refillPerMs >= limits.burst) buckets.delete(k);
  };
  const timer = setInterval(sweep, 10_000);
  timer.unref();

  return {
    /** Counts the connection, or closes it when a limit is reached. */
    attach(server: Server): void {
      server.on("connection", (socket: Socket) => {
        const key = limitKey(socket.remoteAddress ?? "");
        const n = perIp.get(key) ?? 0;
        if (open >= limits.maxConnections) {
          shed("connections");
          socket.destroy();
          return;
        }
        if (n >= limits.maxConnectionsPerIp) {
          shed("connections_per_ip");
          socket.destroy();
          return;
        }
        open++;
        perIp.set(key, n + 1);
        socket.once("close", () => {
          open--;
          const m = (perIp.get(key) ?? 1) - 1;
          if (m <= 0) perIp.delete(key);
          else perIp.set(key, m);
        });
      });
    },
    /** True when a request from `address` may go on; false when its bucket is empty (answer 429). */
    allow(address: string): boolean {
      const key = limitKey(address);
      const t = now();
      let b = buckets.get(key);
      if (b === undefined) {
        if (buckets.size >= limits.maxTracked) {
          sweep();
          // still full: forget the oldest eighth (insertion order)
          if (buckets.size >= limits.maxTracked) {
            let drop = Math.max(1, limits.maxTracked >> 3);
            for (const k of buckets.keys()) {
              buckets.delete(k);
              if (--drop === 0) break;
            }
          }
        }
        b = { tokens: limits.burst, at: t };
        buckets.set(key, b);
      } else {
        b.tokens = Math.min(limits.burst, b.tokens + (t - b.at) * refillPerMs);
        b.at = t;
      }
      if (b.tokens < 1) {
        shed("rate");
        return false;
      }
      b.tokens -= 1;
      return true;
    },
    stats(): { open: number; addresses: number; tracked: number } {
      return { open, addresses: perIp.size, tracked: buckets.size };
    },
    close(): void {
      clearInterval(timer);
    },
  };
}
