import type { Server } from "node:http";
import type * as grpc from "@grpc/grpc-js";

/** Stops accepting, lets requests finish until the deadline, then closes what is left. */
export function closeHttp(server: Pick<Server, "closeAllConnections" | "closeIdleConnections"> & { close(cb: () => void): unknown }, deadlineMs: number): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(() => {
      server.closeAllConnections();
      done();
    }, deadlineMs);
    server.close(() => {
      clearTimeout(timer);
      done();
    });
    server.closeIdleConnections();
  });
}

export function shutdownGrpc(server: grpc.Server, deadlineMs: number): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      done();
    }, deadlineMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      done();
    });
  });
}

/** Waits for `p` at most `ms`, leaving no timer behind. */
export function withDeadline(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(done, ms);
    void p.finally(() => {
      clearTimeout(timer);
      done();
    });
  });
}
