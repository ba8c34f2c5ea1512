/**
 * A closed-loop HTTP/1.1 load generator on raw sockets: `conns` keep-alive
 * connections, each sending its next request as soon as the previous reply
 * is complete. Lighter than node:http's client, so that on a small machine
 * the server under test, not the generator, sets the pace. Bounded by a
 * request count and a time limit.
 */
import { connect, type Socket } from "node:net";

export interface LoadResult {
  requests: number;
  seconds: number;
  p50: number;
  p99: number;
  non200: number;
  errors: number;
}

export async function load(opts: { port: number; total: number; conns: number; maxSeconds: number; request: (i: number) => Buffer }): Promise<LoadResult> {
  const lat = new Float64Array(opts.total);
  let done = 0;
  let sent = 0;
  let non200 = 0;
  let errors = 0;
  const deadline = Date.now() + opts.maxSeconds * 1000;
  const t0 = process.hrtime.bigint();

  /** One connection's loop; a connection the server closes (e.g. after its per-socket request limit) is replaced. */
  const runConn = (): Promise<void> =>
    new Promise((resolve) => {
      let finished = false;
      const open = (): void => {
        const sock: Socket = connect(opts.port, "127.0.0.1");
        sock.setNoDelay(true);
        let buf: Buffer = Buffer.alloc(0);
        let started = 0n;
        let inFlight = false;
        const next = (): void => {
          if (sent >= opts.total || Date.now() > deadline) {
            finished = true;
            sock.end();
            return resolve();
          }
          const req = opts.request(sent++);
          started = process.hrtime.bigint();
          inFlight = true;
          sock.write(req);
        };
        sock.on("connect", next);
        sock.on("data", (chunk: Buffer) => {
          buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
          for (;;) {
            const headEnd = buf.indexOf("\r\n\r\n");
            if (headEnd < 0) return;
            const head = buf.toString("latin1", 0, headEnd);
            const m = /\r\ncontent-length: *(\d+)/i.exec(head);
            const bodyLen = m === null ? 0 : Number(m[1]);
            if (buf.length < headEnd + 4 + bodyLen) return;
            if (head.slice(9, 12) !== "200") non200++;
            lat[done++] = Number(process.hrtime.bigint() - started) / 1e6;
            inFlight = false;
            buf = buf.subarray(headEnd + 4 + bodyLen);
            // A server that says "connection: close" (e.g. past its requests per
            // socket) may leave the socket open (node:http does): the client
            // closes it, as HTTP/1.1 asks; the close handler reconnects.
            if (/\r\nconnection: *close/i.test(head)) {
              sock.end();
              return;
            }
            next();
          }
        });
        sock.on("error", () => {
          errors++;
        });
        sock.on("close", () => {
          if (finished) return;
          if (inFlight) errors++;
          open();
        });
      };
      open();
    });

  await Promise.all(Array.from({ length: opts.conns }, runConn));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const sorted = lat.subarray(0, done).sort();
  return { requests: done, seconds, p50: sorted[Math.floor(done * 0.5)] ?? NaN, p99: sorted[Math.floor(done * 0.99)] ?? NaN, non200, errors };
}

/** The SDK's bootstrap request for one device, as bytes. */
export function bootstrapRequest(productKey: string, deviceName: string): Buffer {
  const body = `productKey=${productKey}&deviceName=${deviceName}&clientId=${productKey}.${deviceName}&resources=mqtt`;
  return Buffer.from(
    `POST /auth/bootstrap HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded;charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    "latin1",
  );
}
