import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { ConnectError, createContextKey, createContextValues, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { IncomingMessage, ServerResponse } from "node:http";
import { statusName, toServiceError } from "./status.js";
import type { UnaryService } from "./adapter.js";

export interface ConnectHandlerOptions<Ctx> {
  /** Resolves the caller from the request headers (lower-case names) and its address; throwing refuses the call. */
  context(header: (name: string) => string | undefined, address: string): Ctx;
  /** Told of every call once it ends, with the gRPC status name (the same labels as the gRPC server's). */
  observe(method: string, code: string, seconds: number): void;
  /** Told of internal errors, which are never sent. */
  internalError(method: string, err: unknown): void;
  /** Largest request body read. */
  readMaxBytes: number;
}

const remoteAddress = createContextKey<string>("", { description: "the client's address" });

/**
 * The same unary implementation the gRPC server runs, served with the
 * Connect protocol (and gRPC-web) for browsers and JSON clients: one
 * business layer, two wire protocols. Errors go through the one table in
 * status.ts; a domain error's field, rule and code travel as the
 * `iotfed-field`, `iotfed-rule` and `iotfed-code` headers, as gRPC
 * trailers do. Every request must carry `Connect-Protocol-Version: 1`, so
 * that a cross-site form cannot make one.
 */
export function connectHandler<T extends GenServiceMethods, Ctx>(
  service: GenService<T>,
  impl: UnaryService<T, Ctx>,
  opts: ConnectHandlerOptions<Ctx>,
): (req: IncomingMessage, res: ServerResponse) => void {
  const methods: Record<string, (req: unknown, hctx: HandlerContext) => Promise<unknown>> = {};
  for (const m of service.methods) {
    const fn = impl[m.localName as keyof T] as (req: unknown, ctx: Ctx) => unknown;
    methods[m.localName] = async (req: unknown, hctx: HandlerContext) => {
      const started = process.hrtime.bigint();
      let code = "OK";
      try {
        const ctx = opts.context((name) => hctx.requestHeader.get(name) ?? undefined, hctx.values.get(remoteAddress));
        return await fn(req, ctx);
      } catch (e) {
        const se = toServiceError(e);
        code = statusName(se.code);
        if (se.internal) opts.internalError(m.name, e);
        const meta = new Headers();
        for (const k of ["iotfed-field", "iotfed-rule", "iotfed-code"]) {
          const v = se.metadata.get(k)[0];
          if (typeof v === "string") meta.set(k, v);
        }
        // gRPC status numbers are Connect's codes.
        throw new ConnectError(se.details, se.code as number, meta);
      } finally {
        opts.observe(m.name, code, Number(process.hrtime.bigint() - started) / 1e9);
      }
    };
  }
  return connectNodeAdapter({
    routes: (router: ConnectRouter) => void router.service(service, methods as never),
    readMaxBytes: opts.readMaxBytes,
    requireConnectProtocolHeader: true,
    grpc: false,
    grpcWeb: true,
    connect: true,
    contextValues: (req) => createContextValues().set(remoteAddress, `${req.socket.remoteAddress ?? ""}:${req.socket.remotePort ?? ""}`),
  });
}
