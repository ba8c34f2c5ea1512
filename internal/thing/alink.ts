import { ALINK_CODES } from "../domain/index.js";

/**
 * The platform's Alink JSON over MQTT (docs/guides/thing-model.md): which
 * thing topic a publish is, and the request and reply documents.
 */
export type ThingTopic =
  | { kind: "property.post"; productKey: string; deviceName: string }
  | { kind: "event.post"; productKey: string; deviceName: string; identifier: string }
  | { kind: "property.set.reply"; productKey: string; deviceName: string }
  | { kind: "service.reply"; productKey: string; deviceName: string; identifier: string }
  | { kind: "topo.add" | "topo.delete" | "topo.get"; productKey: string; deviceName: string }
  | { kind: "combine.login" | "combine.logout"; productKey: string; deviceName: string };

const SYS = /^\/sys\/([^/]+)\/([^/]+)\/thing\/(.+)$/;
const SESSION = /^\/ext\/session\/([^/]+)\/([^/]+)\/combine\/(login|logout)$/;
const IDENT = /^[A-Za-z0-9_]{1,50}$/;

/** The thing topic a device published to, or undefined for any other topic. */
export function parseThingTopic(topic: string): ThingTopic | undefined {
  const s = SESSION.exec(topic);
  if (s !== null) return { kind: s[3] === "login" ? "combine.login" : "combine.logout", productKey: s[1]!, deviceName: s[2]! };
  const m = SYS.exec(topic);
  if (m === null) return undefined;
  const [, productKey, deviceName, rest] = m as unknown as [string, string, string, string];
  if (rest === "event/property/post") return { kind: "property.post", productKey, deviceName };
  if (rest === "service/property/set_reply") return { kind: "property.set.reply", productKey, deviceName };
  if (rest === "topo/add" || rest === "topo/delete" || rest === "topo/get") return { kind: `topo.${rest.slice(5)}` as "topo.add", productKey, deviceName };
  const ev = /^event\/([^/]+)\/post$/.exec(rest);
  if (ev !== null && IDENT.test(ev[1]!)) return { kind: "event.post", productKey, deviceName, identifier: ev[1]! };
  const sv = /^service\/([^/]+)_reply$/.exec(rest);
  if (sv !== null && IDENT.test(sv[1]!)) return { kind: "service.reply", productKey, deviceName, identifier: sv[1]! };
  return undefined;
}

export const propertySetTopic = (pk: string, dn: string): string => `/sys/${pk}/${dn}/thing/service/property/set`;
export const serviceTopic = (pk: string, dn: string, identifier: string): string => `/sys/${pk}/${dn}/thing/service/${identifier}`;

/** An Alink request from a device: `{id, version, params, method}`. */
export interface AlinkRequest {
  id: string;
  params: unknown;
  method: string | undefined;
}

/** A reply's parts, as a device reads them or sends them. */
export interface AlinkReply {
  id: string;
  code: number;
  data: unknown;
  message: string;
}

/** Parses a request; the id is kept (as text) whenever there is one, so that even a refusal can name it. */
export function parseRequest(payload: Buffer): { ok: true; request: AlinkRequest } | { ok: false; id: string; message: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(payload.toString("utf8"));
  } catch {
    return { ok: false, id: "", message: "the payload is not JSON" };
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) return { ok: false, id: "", message: "the payload is not a JSON object" };
  const o = doc as Record<string, unknown>;
  const id = typeof o.id === "string" ? o.id : typeof o.id === "number" ? String(o.id) : "";
  if (id === "" || id.length > 64) return { ok: false, id: "", message: "id: a string of 1-64 characters is required" };
  if (!Object.hasOwn(o, "params")) return { ok: false, id, message: "params: is required" };
  return { ok: true, request: { id, params: o.params, method: typeof o.method === "string" ? o.method : undefined } };
}

/** Parses a device's reply to a request of the server's. */
export function parseReply(payload: Buffer): AlinkReply | undefined {
  try {
    const o = JSON.parse(payload.toString("utf8")) as Record<string, unknown>;
    const id = typeof o.id === "string" ? o.id : typeof o.id === "number" ? String(o.id) : undefined;
    if (id === undefined) return undefined;
    const code = typeof o.code === "number" ? o.code : Number(o.code);
    return { id, code: Number.isFinite(code) ? code : ALINK_CODES.badRequest, data: o.data ?? {}, message: typeof o.message === "string" ? o.message.slice(0, 256) : "" };
  } catch {
    return undefined;
  }
}

/** A reply document as the platform sends it. */
export function replyPayload(r: AlinkReply & { method?: string | undefined }): string {
  return JSON.stringify({ code: r.code, data: r.data, id: r.id, message: r.message, ...(r.method === undefined ? {} : { method: r.method }), version: "1.0" });
}

/** A request document of the server's. */
export function requestPayload(id: string, method: string, params: unknown): string {
  return JSON.stringify({ id, version: "1.0", params, method });
}
