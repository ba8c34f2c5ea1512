import type { ThingModel } from "./tsl.js";

/**
 * Thing-model values (docs/guides/thing-model.md): what a device posts,
 * and what the server sets or calls, checked against the product's thing
 * model. A fault carries the Alink reply code, the path of the value at
 * fault and what was wrong; the codes follow the platform's: 200 success,
 * 460 a malformed request, 6106 too many properties, and 63xx for a value
 * the thing model does not allow.
 */
export const ALINK_CODES = {
  ok: 200,
  badRequest: 460,
  tooManyProperties: 6106,
  methodMismatch: 6300,
  wrongType: 6301,
  structField: 6304,
  intRange: 6306,
  floatRange: 6307,
  doubleRange: 6308,
  notDefinedValue: 6309,
  textLength: 6310,
  badDate: 6312,
  unknownProperty: 6320,
  unknownIdentifier: 6321,
  readOnlyProperty: 6322,
  arraySize: 6324,
  deviceNotFound: 6100,
  deviceDisabled: 6204,
  notGateway: 6401,
  subDeviceSign: 6402,
  notSubDevice: 6403,
} as const;

/** At most this many properties in one post (the platform's limit). */
export const MAX_PROPERTIES_PER_POST = 200;

export interface ValueFault {
  code: number;
  /** Where: `params.temperature`, `params.value.Power`, `params.pos[2].x`. */
  path: string;
  message: string;
}

export type DataType = ThingModel["properties"][number]["dataType"];
type Field = ThingModel["events"][number]["outputData"][number];

const num = (v: number | string | undefined): number | undefined => (v === undefined || v === "" ? undefined : Number(v));

const ranges = { int: ALINK_CODES.intRange, float: ALINK_CODES.floatRange, double: ALINK_CODES.doubleRange } as const;

/** Checks one value against its data type; undefined when it is allowed. */
export function checkValue(t: DataType, v: unknown, path: string): ValueFault | undefined {
  const fault = (code: number, message: string): ValueFault => ({ code, path, message });
  switch (t.type) {
    case "int":
    case "float":
    case "double": {
      if (typeof v !== "number" || !Number.isFinite(v)) return fault(ALINK_CODES.wrongType, `must be a number (${t.type})`);
      if (t.type === "int" && !Number.isInteger(v)) return fault(ALINK_CODES.wrongType, "must be an integer (int)");
      if (t.type === "int" && (v < -2147483648 || v > 2147483647)) return fault(ALINK_CODES.intRange, "is outside the 32-bit int range");
      if (t.type === "float" && Math.abs(v) > 3.4028234663852886e38) return fault(ALINK_CODES.floatRange, "is outside the 32-bit float range");
      const min = num(t.specs.min);
      const max = num(t.specs.max);
      if ((min !== undefined && v < min) || (max !== undefined && v > max)) return fault(ranges[t.type], `${v} is outside ${min ?? "-∞"}..${max ?? "∞"}`);
      return undefined;
    }
    case "text": {
      if (typeof v !== "string") return fault(ALINK_CODES.wrongType, "must be a string (text)");
      const length = Number(t.specs.length);
      const bytes = Buffer.byteLength(v);
      return bytes > length ? fault(ALINK_CODES.textLength, `is ${bytes} bytes; at most ${length}`) : undefined;
    }
    case "enum": {
      if (typeof v !== "number" || !Number.isInteger(v)) return fault(ALINK_CODES.wrongType, "must be an integer (enum)");
      return Object.hasOwn(t.specs, String(v)) ? undefined : fault(ALINK_CODES.notDefinedValue, `${v} is not one of ${Object.keys(t.specs).join(", ")}`);
    }
    case "bool":
      if (typeof v !== "number" || !Number.isInteger(v)) return fault(ALINK_CODES.wrongType, "must be 0 or 1 (bool)");
      return v === 0 || v === 1 ? undefined : fault(ALINK_CODES.notDefinedValue, `${v} is not 0 or 1`);
    case "date": {
      // UTC milliseconds, as a number or a string of digits (the platform's date).
      const ms = typeof v === "number" ? v : typeof v === "string" && /^\d{1,15}$/.test(v) ? Number(v) : Number.NaN;
      return Number.isInteger(ms) && ms >= 0 ? undefined : fault(ALINK_CODES.badDate, "must be UTC milliseconds (date)");
    }
    case "struct":
      return checkFields(t.specs, v, path, true);
    case "array": {
      if (!Array.isArray(v)) return fault(ALINK_CODES.wrongType, "must be an array");
      const size = Number(t.specs.size);
      if (v.length > size) return fault(ALINK_CODES.arraySize, `has ${v.length} items; at most ${size}`);
      for (let i = 0; i < v.length; i++) {
        const f = checkValue(t.specs.item, v[i], `${path}[${i}]`);
        if (f !== undefined) return f;
      }
      return undefined;
    }
  }
}

/**
 * An object of fields (a struct, an event's output, a service's input or
 * output): no field the model does not define; with `all`, every field it
 * defines (a struct); otherwise a field may be left out.
 */
export function checkFields(fields: readonly Field[], v: unknown, path: string, all: boolean): ValueFault | undefined {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return { code: ALINK_CODES.wrongType, path, message: "must be an object" };
  const o = v as Record<string, unknown>;
  const byId = new Map(fields.map((f) => [f.identifier, f]));
  for (const k of Object.keys(o)) if (!byId.has(k)) return { code: ALINK_CODES.structField, path: `${path}.${k}`, message: "is not defined by the thing model" };
  for (const f of fields) {
    if (!Object.hasOwn(o, f.identifier)) {
      if (all) return { code: ALINK_CODES.structField, path: `${path}.${f.identifier}`, message: "is missing" };
      continue;
    }
    const fault = checkValue(f.dataType, o[f.identifier], `${path}.${f.identifier}`);
    if (fault !== undefined) return fault;
  }
  return undefined;
}

/** A property value as a device posts it: the value, and its time (the post's when it has none). */
export interface PostedProperty {
  identifier: string;
  /** The value as JSON text. */
  value: string;
  time: number;
}

/**
 * The `params` of a property post: `{id: value}` or `{id: {value, time}}`.
 * Every identifier a property of the model; every value its type's.
 */
export function checkPropertyPost(model: ThingModel, params: unknown, now: number): { ok: true; properties: PostedProperty[] } | { ok: false; fault: ValueFault } {
  if (params === null || typeof params !== "object" || Array.isArray(params)) return { ok: false, fault: { code: ALINK_CODES.badRequest, path: "params", message: "must be an object of property values" } };
  const entries = Object.entries(params as Record<string, unknown>);
  if (entries.length === 0) return { ok: false, fault: { code: ALINK_CODES.badRequest, path: "params", message: "holds no property" } };
  if (entries.length > MAX_PROPERTIES_PER_POST) return { ok: false, fault: { code: ALINK_CODES.tooManyProperties, path: "params", message: `holds ${entries.length} properties; at most ${MAX_PROPERTIES_PER_POST}` } };
  const props = new Map(model.properties.map((p) => [p.identifier, p]));
  const out: PostedProperty[] = [];
  for (const [id, raw] of entries) {
    const p = props.get(id);
    if (p === undefined) return { ok: false, fault: { code: ALINK_CODES.unknownProperty, path: `params.${id}`, message: "is not a property of the thing model" } };
    // `{value, time}` (only those keys) carries its own time; anything else is the value itself.
    let value = raw;
    let time = now;
    if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
      const keys = Object.keys(raw);
      if (keys.includes("value") && keys.every((k) => k === "value" || k === "time")) {
        const r = raw as { value: unknown; time?: unknown };
        value = r.value;
        if (r.time !== undefined) {
          if (typeof r.time !== "number" || !Number.isInteger(r.time) || r.time < 0) return { ok: false, fault: { code: ALINK_CODES.badDate, path: `params.${id}.time`, message: "must be UTC milliseconds" } };
          time = r.time;
        }
      }
    }
    const fault = checkValue(p.dataType, value, `params.${id}`);
    if (fault !== undefined) return { ok: false, fault };
    out.push({ identifier: id, value: JSON.stringify(value), time });
  }
  return { ok: true, properties: out };
}

/** Properties the server sets: each a read-write property of the model, each value its type's. */
export function checkPropertySet(model: ThingModel, items: unknown): ValueFault | undefined {
  if (items === null || typeof items !== "object" || Array.isArray(items) || Object.keys(items).length === 0) {
    return { code: ALINK_CODES.badRequest, path: "items", message: "must be an object of one or more property values" };
  }
  const props = new Map(model.properties.map((p) => [p.identifier, p]));
  for (const [id, v] of Object.entries(items as Record<string, unknown>)) {
    const p = props.get(id);
    if (p === undefined) return { code: ALINK_CODES.unknownProperty, path: `items.${id}`, message: "is not a property of the thing model" };
    if (p.accessMode !== "rw") return { code: ALINK_CODES.readOnlyProperty, path: `items.${id}`, message: "is read-only (accessMode r)" };
    const fault = checkValue(p.dataType, v, `items.${id}`);
    if (fault !== undefined) return fault;
  }
  return undefined;
}
