import type { Endpoint } from "./entities.js";

/**
 * The bootstrap reply (SPEC: Bootstrap protocol). The device SDK reads the
 * reply into a 192-byte buffer, so every body must stay below that.
 */
export const BOOTSTRAP_BODY_MAX = 192;

export function bootstrapSuccessBody(ep: Endpoint): string {
  return JSON.stringify({
    code: 200,
    data: { resources: { mqtt: { host: ep.host, port: ep.port } } },
    message: "success",
  });
}

export function bootstrapErrorBody(code: number, message: string): string {
  return JSON.stringify({ code, data: {}, message });
}
