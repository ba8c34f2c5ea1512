import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";

/**
 * The JetStream API error code of `e` or of an error in its cause chain
 * (the client wraps some), or undefined. Errors are matched by these codes,
 * never by their text.
 */
export function jetStreamCode(e: unknown): number | undefined {
  for (let cur = e, depth = 0; cur instanceof Error && depth < 5; cur = cur.cause, depth++) {
    if (cur instanceof JetStreamApiError) return cur.code;
  }
  return undefined;
}

/** A compare-and-set lost to a concurrent write. */
export const isWrongLastSequence = (e: unknown): boolean => {
  const c = jetStreamCode(e);
  return c === JetStreamApiCodes.StreamWrongLastSequence || c === JetStreamApiCodes.StreamWrongLastSequenceUnknown;
};

/** The stream (the routes bucket or its mirror) does not exist. */
export const isStreamNotFound = (e: unknown): boolean => jetStreamCode(e) === JetStreamApiCodes.StreamNotFound;
