import { pino, type Logger as PinoLogger, type LevelWithSilent } from "pino";

export type Logger = PinoLogger;

/**
 * Structured JSON logs on stdout. Messages are static; values go in fields.
 * Secrets never reach a log line: callers do not pass them, and the
 * redaction list below is the second line of defence.
 */
export const REDACT_PATHS = [
  "deviceSecret",
  "*.deviceSecret",
  "device_secret",
  "*.device_secret",
  "secret",
  "*.secret",
  "token",
  "*.token",
  "authorization",
  "*.authorization",
  "sealKey",
  "*.sealKey",
];

export function createLogger(level: LevelWithSilent, destination?: NodeJS.WritableStream): Logger {
  const opts = {
    level,
    base: { svc: "iotfedd" },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination === undefined ? pino(opts) : pino(opts, destination as never);
}
