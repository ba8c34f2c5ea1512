import { bootstrapErrorBody } from "../domain/index.js";

/**
 * The device edge's error replies: every refusal keeps the bootstrap JSON
 * envelope, with the same number as `code` and as HTTP status (the device
 * SDK treats any status but 200 as failure).
 */
export function errorReply(code: number, message: string): Buffer {
  return Buffer.from(bootstrapErrorBody(code, message));
}

/** Pre-serialised replies for the frequent refusals. */
export const REPLY = {
  unknownProduct: errorReply(404, "product not found"),
  unknownDevice: errorReply(404, "device not found"),
  disabled: errorReply(403, "device is disabled"),
  notFound: errorReply(404, "no such path: use POST /auth/bootstrap"),
  method: errorReply(405, "method not allowed: use POST"),
  contentType: errorReply(415, "Content-Type must be application/x-www-form-urlencoded"),
  tooLarge: errorReply(413, "request body too large"),
  timeout: errorReply(408, "request timed out"),
  tooMany: errorReply(429, "too many requests from this address; retry later"),
  internal: errorReply(500, "internal error"),
  noEndpoint: errorReply(503, "the device's instance has no known endpoint yet; retry"),
  missingProductKey: errorReply(400, "productKey is required"),
  missingDeviceName: errorReply(400, "deviceName is required"),
  badProductKey: errorReply(400, "productKey must be 11 letters and digits"),
  badDeviceName: errorReply(400, "deviceName must be 4-32 characters of letters, digits and -_@.:"),
  badResources: errorReply(400, "resources: only mqtt is offered"),
  badRegion: errorReply(400, "regionId must be 1-32 letters, digits or -"),
} as const;
