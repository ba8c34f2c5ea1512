import * as grpc from "@grpc/grpc-js";
import { isIotfedError, RemoteError, type ErrorCode } from "../domain/index.js";

/** The one table from domain error codes to gRPC status codes. */
export const GRPC_STATUS_OF: Record<ErrorCode, grpc.status> = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  NOT_FOUND: grpc.status.NOT_FOUND,
  ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  RESOURCE_EXHAUSTED: grpc.status.RESOURCE_EXHAUSTED,
  UNIMPLEMENTED: grpc.status.UNIMPLEMENTED,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  DEADLINE_EXCEEDED: grpc.status.DEADLINE_EXCEEDED,
  INTERNAL: grpc.status.INTERNAL,
};

/**
 * Maps any thrown value to a gRPC error. Domain errors keep their message
 * (it names the field or rule, never a secret) and carry `iotfed-field` /
 * `iotfed-rule` trailers; anything else becomes INTERNAL with a generic
 * message — internals never cross the wire.
 */
export function toServiceError(e: unknown): grpc.ServiceError & { internal: boolean } {
  const metadata = new grpc.Metadata();
  if (isIotfedError(e) && e.code !== "INTERNAL") {
    if (e.field !== undefined) metadata.set("iotfed-field", e.field);
    if (e.rule !== undefined) metadata.set("iotfed-rule", e.rule);
    metadata.set("iotfed-code", e.code);
    // A local dependency that failed (the store's disk: its cause is kept) is told and also logged.
    const internal = e.code === "UNAVAILABLE" && e.cause !== undefined;
    return Object.assign(new Error(e.message), { code: GRPC_STATUS_OF[e.code], details: e.message, metadata, internal });
  }
  return Object.assign(new Error("internal error"), { code: grpc.status.INTERNAL, details: "internal error", metadata, internal: true });
}

const STATUS_NAMES = Object.fromEntries(Object.entries(grpc.status).filter(([, v]) => typeof v === "number").map(([k, v]) => [v, k])) as Record<number, string>;

/** `grpc.status` code → its name (`NOT_FOUND`), for metric labels and messages. */
export function statusName(code: number): string {
  return STATUS_NAMES[code] ?? String(code);
}

export interface CallRunnerOptions<Ctx> {
  /** Resolves the caller (authentication, peer identity); throwing refuses the call. */
  context(call: grpc.ServerUnaryCall<unknown, unknown>): Ctx;
  /** Told of every call once it ends. */
  observe(method: string, code: string, seconds: number): void;
  /** Told of internal errors, which are never sent (see toServiceError). */
  internalError(method: string, err: unknown): void;
}

/**
 * The wrapper every unary service of ours runs its handlers in: resolve the
 * caller, run, map errors by the one table, observe latency and status.
 */
export function createCallRunner<Ctx>(opts: CallRunnerOptions<Ctx>) {
  return async (method: string, call: grpc.ServerUnaryCall<unknown, unknown>, handler: (ctx: Ctx) => Promise<unknown>) => {
    const started = process.hrtime.bigint();
    let code: number = grpc.status.OK;
    try {
      return { error: null, value: await handler(opts.context(call)) };
    } catch (e) {
      const err = toServiceError(e);
      code = err.code;
      if (err.internal) opts.internalError(method, e);
      return { error: err };
    } finally {
      opts.observe(method, statusName(code), Number(process.hrtime.bigint() - started) / 1e9);
    }
  };
}

/**
 * A peer's gRPC error as a domain error for our own caller: its code (an
 * unreachable peer is UNAVAILABLE and says which), message, field and rule.
 * Anything that is not a gRPC error is returned unchanged.
 */
export function fromPeerError(peer: string, e: unknown): unknown {
  const se = e as Partial<grpc.ServiceError>;
  if (typeof se.code !== "number") return e;
  const first = (k: string): string | undefined => {
    const v = se.metadata?.get(k)[0];
    return typeof v === "string" ? v : undefined;
  };
  const name = statusName(se.code);
  const details = se.details || name;
  if (se.code === grpc.status.UNAVAILABLE || se.code === grpc.status.DEADLINE_EXCEEDED || se.code === grpc.status.CANCELLED) {
    return new RemoteError("UNAVAILABLE", `${peer} is unreachable (${name}): ${details}; nothing was changed`);
  }
  const code = (Object.keys(GRPC_STATUS_OF) as ErrorCode[]).find((k) => GRPC_STATUS_OF[k] === se.code) ?? "INTERNAL";
  if (code === "INTERNAL") return new RemoteError("UNAVAILABLE", `${peer} failed the call (${name}); nothing was changed`);
  const field = first("iotfed-field");
  const rule = first("iotfed-rule");
  return new RemoteError(code, details, { ...(field === undefined ? {} : { field }), ...(rule === undefined ? {} : { rule }) });
}
