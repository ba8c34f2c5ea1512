/**
 * Typed errors of the domain. Each kind is one class with a stable `code`;
 * transports map codes to their own vocabulary in one table each
 * (internal/rpc/status.ts for gRPC, internal/bootstrap/envelope.ts for the
 * device edge, the exit codes of cmd/). Every error class of the code base
 * extends IotfedError. Messages name the offending field or the SPEC rule and never
 * carry a secret.
 */
export type ErrorCode =
  | "INVALID_ARGUMENT"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "FAILED_PRECONDITION"
  | "PERMISSION_DENIED"
  | "UNAUTHENTICATED"
  | "RESOURCE_EXHAUSTED"
  | "UNIMPLEMENTED"
  | "UNAVAILABLE"
  | "DEADLINE_EXCEEDED"
  | "INTERNAL";

export interface ErrorDetails {
  /** The request field at fault, e.g. `device_name`. */
  readonly field?: string;
  /** The SPEC rule that refused the request, e.g. `R9`. */
  readonly rule?: string;
  readonly cause?: unknown;
}

export abstract class IotfedError extends Error {
  abstract readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly rule: string | undefined;

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.field = details.field;
    this.rule = details.rule;
  }
}

/** A request field is malformed or out of range. */
export class InvalidArgumentError extends IotfedError {
  override readonly name = "InvalidArgumentError";
  readonly code = "INVALID_ARGUMENT";
  constructor(field: string, message: string, details: Omit<ErrorDetails, "field"> = {}) {
    super(`${field}: ${message}`, { ...details, field });
  }
}

export class NotFoundError extends IotfedError {
  override readonly name = "NotFoundError";
  readonly code = "NOT_FOUND";
}

export class AlreadyExistsError extends IotfedError {
  override readonly name = "AlreadyExistsError";
  readonly code = "ALREADY_EXISTS";
}

/** The request is well formed but a rule of the platform forbids it now. */
export class RuleViolationError extends IotfedError {
  override readonly name = "RuleViolationError";
  readonly code = "FAILED_PRECONDITION";
  constructor(rule: string, message: string, details: Omit<ErrorDetails, "rule"> = {}) {
    super(`${rule}: ${message}`, { ...details, rule });
  }
}

/** A state precondition that is not one of the numbered rules. */
export class PreconditionError extends IotfedError {
  override readonly name = "PreconditionError";
  readonly code = "FAILED_PRECONDITION";
}

export class PermissionDeniedError extends IotfedError {
  override readonly name = "PermissionDeniedError";
  readonly code = "PERMISSION_DENIED";
}

export class UnauthenticatedError extends IotfedError {
  override readonly name = "UnauthenticatedError";
  readonly code = "UNAUTHENTICATED";
}

export class ResourceExhaustedError extends IotfedError {
  override readonly name = "ResourceExhaustedError";
  readonly code = "RESOURCE_EXHAUSTED";
}

/** A request this version recognises but does not carry out. */
export class UnimplementedError extends IotfedError {
  override readonly name = "UnimplementedError";
  readonly code = "UNIMPLEMENTED";
}

/** A dependency (a peer, the store's disk, NATS) cannot serve the request now; nothing was changed. */
export class UnavailableError extends IotfedError {
  override readonly name = "UnavailableError";
  readonly code = "UNAVAILABLE";
}

/** A wait ran out before what it waited for happened. */
export class DeadlineExceededError extends IotfedError {
  override readonly name = "DeadlineExceededError";
  readonly code = "DEADLINE_EXCEEDED";
}

/** A fault of ours; its message is logged, never sent. */
export class InternalError extends IotfedError {
  override readonly name = "InternalError";
  readonly code = "INTERNAL";
}

/**
 * A problem with the daemon's configuration or the files it names (a key,
 * a certificate, the store's schema): found at start-up, it stops the
 * daemon with exit code 2. `key` is the configuration key at fault.
 */
export class ConfigurationError extends IotfedError {
  override readonly name: string = "ConfigurationError";
  readonly code = "INVALID_ARGUMENT";
  constructor(
    readonly key: string,
    message: string,
    details: Omit<ErrorDetails, "field"> = {},
  ) {
    super(key === "" ? message : `${key}: ${message}`, { ...details, ...(key === "" ? {} : { field: key }) });
  }
}

/**
 * Whether a failed call to another daemon may succeed if sent again later
 * (its outcome is unknown, or the peer was busy): the job worker and
 * placement retry these; every other code is the peer's answer.
 */
export function isRetryable(code: ErrorCode): boolean {
  return code === "UNAVAILABLE" || code === "DEADLINE_EXCEEDED" || code === "RESOURCE_EXHAUSTED" || code === "INTERNAL";
}

export function isIotfedError(e: unknown): e is IotfedError {
  return e instanceof IotfedError;
}

/** A refusal another daemon answered with, passed on to our caller with its code, field and rule. */
export class RemoteError extends IotfedError {
  override readonly name = "RemoteError";
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details);
    this.code = code;
  }
}
