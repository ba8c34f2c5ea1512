import * as grpc from "@grpc/grpc-js";
import { toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { IotfedError } from "../../internal/domain/index.js";
import { GRPC_STATUS_OF } from "../../internal/rpc/index.js";

/**
 * iotfedctl exit codes (documented in README and `--help`):
 *   0 success; 1 the daemon refused the request; 2 usage error;
 *   3 not authenticated or not allowed; 4 not found;
 *   5 daemon unreachable or timed out; 6 a batch finished with failed items.
 */
export const EXIT = { ok: 0, refused: 1, usage: 2, auth: 3, notFound: 4, unreachable: 5, partial: 6 } as const;

/** The command line itself is wrong (exit 2). */
export class UsageError extends IotfedError {
  override readonly name = "UsageError";
  readonly code = "INVALID_ARGUMENT";
}

/** A batch finished with some items failed (exit 6); each item's result was printed. */
export class PartialFailure extends IotfedError {
  override readonly name = "PartialFailure";
  readonly code = "FAILED_PRECONDITION";
}

export function exitCodeOf(e: unknown): number {
  if (e instanceof UsageError) return EXIT.usage;
  if (e instanceof PartialFailure) return EXIT.partial;
  const code = e instanceof IotfedError ? GRPC_STATUS_OF[e.code] : (e as grpc.ServiceError)?.code;
  switch (code) {
    case grpc.status.UNAUTHENTICATED:
    case grpc.status.PERMISSION_DENIED:
      return EXIT.auth;
    case grpc.status.NOT_FOUND:
      return EXIT.notFound;
    case grpc.status.UNAVAILABLE:
    case grpc.status.DEADLINE_EXCEEDED:
      return EXIT.unreachable;
    default:
      return EXIT.refused;
  }
}

export function errorText(e: unknown): string {
  if (e instanceof UsageError || e instanceof PartialFailure) return e.message;
  if (e instanceof IotfedError) return `${e.code}: ${e.message}`;
  const se = e as grpc.ServiceError;
  if (typeof se?.code === "number" && se.details !== undefined) {
    const name = grpc.status[se.code] ?? String(se.code);
    return `${name}: ${se.details}`;
  }
  return (e as Error)?.message ?? String(e);
}

export function printJson<D extends DescMessage>(schema: D, msg: MessageShape<D>): void {
  process.stdout.write(JSON.stringify(toJson(schema, msg, { alwaysEmitImplicit: true }), null, 2) + "\n");
}

type Cell = string | number | bigint | boolean;

/** A plain aligned table for people. */
export function printTable(headers: string[], rows: Cell[][]): void {
  const text = rows.map((r) => r.map((c) => String(c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  process.stdout.write(line(headers) + "\n");
  for (const r of text) process.stdout.write(line(r) + "\n");
}

export function printFields(fields: [string, Cell][]): void {
  const w = Math.max(...fields.map(([k]) => k.length));
  for (const [k, v] of fields) process.stdout.write(`${k.padEnd(w)}  ${String(v)}\n`);
}

export function time(ms: bigint): string {
  return ms === 0n ? "-" : new Date(Number(ms)).toISOString();
}

/** Enum value name in lower-kebab form without its prefix, e.g. DEVICE_STATUS_ONLINE → online. */
export function enumText(names: Record<number, string>, v: number): string {
  return (names[v] ?? String(v)).toLowerCase().replace(/_/g, "-");
}
