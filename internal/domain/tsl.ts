import { z } from "zod";
import { InvalidArgumentError } from "./errors.js";
import { MAX_TSL_BYTES } from "./limits.js";

/**
 * Thing model (TSL) validation: the model is checked structurally —
 * identifiers, data types and their specs, parameter lists — not only parsed.
 * The accepted shape is the platform's TSL JSON: `properties`, `events`,
 * `services`, each item with `identifier`, `name` and a data type.
 */
const IDENTIFIER_RE = /^[A-Za-z0-9_]{1,50}$/;
const identifier = z.string().regex(IDENTIFIER_RE, "must be 1-50 characters of letters, digits and _");
const name = z.string().min(1, "is required").max(30, "must be at most 30 characters");
const numeric = z.union([z.number(), z.string().regex(/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/, "must be a number")]);

const numberSpecs = z
  .object({ min: numeric.optional(), max: numeric.optional(), step: numeric.optional(), unit: z.string().max(30).optional(), unitName: z.string().max(30).optional() })
  .strict()
  .refine((s) => s.min === undefined || s.max === undefined || Number(s.min) <= Number(s.max), {
    message: "min must not exceed max",
    path: ["min"],
  });

const scalarTypes = [
  z.object({ type: z.literal("int"), specs: numberSpecs.default({}) }).strict(),
  z.object({ type: z.literal("float"), specs: numberSpecs.default({}) }).strict(),
  z.object({ type: z.literal("double"), specs: numberSpecs.default({}) }).strict(),
  z.object({ type: z.literal("text"), specs: z.object({ length: numeric.refine((n) => Number(n) >= 1 && Number(n) <= 10240, "must be 1-10240") }).strict() }).strict(),
  z
    .object({
      type: z.literal("enum"),
      specs: z
        .record(z.string(), z.string().min(1).max(40))
        .refine((r) => Object.keys(r).length > 0, "must list at least one value")
        .refine((r) => Object.keys(r).every((k) => /^-?\d+$/.test(k)), "enum keys must be integers"),
    })
    .strict(),
  z.object({ type: z.literal("bool"), specs: z.object({ "0": z.string().min(1).max(40), "1": z.string().min(1).max(40) }).strict() }).strict(),
  z.object({ type: z.literal("date"), specs: z.object({}).strict().default({}) }).strict(),
] as const;

type DataType = z.infer<(typeof scalarTypes)[number]> | { type: "struct"; specs: Field[] } | { type: "array"; specs: { size: number | string; item: DataType } };
interface Field {
  identifier: string;
  name: string;
  dataType: DataType;
}

const dataType: z.ZodType<DataType> = z.lazy(() =>
  z.discriminatedUnion("type", [
    ...scalarTypes,
    z.object({ type: z.literal("struct"), specs: z.array(field).min(1).max(50) }).strict(),
    z
      .object({
        type: z.literal("array"),
        specs: z.object({ size: numeric.refine((n) => Number(n) >= 1 && Number(n) <= 512, "must be 1-512"), item: dataType }).strict(),
      })
      .strict(),
  ]),
);

const field: z.ZodType<Field> = z.lazy(() => z.object({ identifier, name, dataType }).strict());

const property = z
  .object({
    identifier,
    name,
    accessMode: z.enum(["r", "rw"]),
    required: z.boolean().optional(),
    desc: z.string().max(100).optional(),
    dataType,
  })
  .strict();

const event = z
  .object({
    identifier,
    name,
    type: z.enum(["info", "alert", "error"]),
    required: z.boolean().optional(),
    desc: z.string().max(100).optional(),
    method: z.string().max(128).optional(),
    outputData: z.array(field).max(50).default([]),
  })
  .strict();

const service = z
  .object({
    identifier,
    name,
    callType: z.enum(["async", "sync"]),
    required: z.boolean().optional(),
    desc: z.string().max(100).optional(),
    method: z.string().max(128).optional(),
    inputData: z.array(field).max(50).default([]),
    outputData: z.array(field).max(50).default([]),
  })
  .strict();

const thingModel = z
  .object({
    schema: z.string().max(256).optional(),
    profile: z.record(z.string(), z.string()).optional(),
    properties: z.array(property).max(1000).default([]),
    events: z.array(event).max(500).default([]),
    services: z.array(service).max(500).default([]),
  })
  .strict();

export type ThingModel = z.infer<typeof thingModel>;

export const EMPTY_THING_MODEL = '{"properties":[],"events":[],"services":[]}';

function pathText(root: string, path: PropertyKey[]): string {
  let out = root;
  for (const p of path) out += typeof p === "number" ? `[${p}]` : `.${String(p)}`;
  return out;
}

/**
 * Parses and checks a TSL document; returns it normalised (defaults filled,
 * compact JSON). Throws InvalidArgumentError naming the path at fault.
 */
export function parseThingModel(text: string, field = "tsl_json"): string {
  if (Buffer.byteLength(text) > MAX_TSL_BYTES) {
    throw new InvalidArgumentError(field, `must be at most ${MAX_TSL_BYTES} bytes`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new InvalidArgumentError(field, `is not valid JSON (${(e as Error).message})`);
  }
  const parsed = thingModel.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InvalidArgumentError(pathText(field, issue.path), issue.message);
  }
  const model = parsed.data;
  const seen = new Map<string, string>();
  const claim = (id: string, where: string): void => {
    const prior = seen.get(id);
    if (prior !== undefined) {
      throw new InvalidArgumentError(`${field}.${where}.identifier`, `"${id}" is already used by ${prior}`);
    }
    seen.set(id, where);
  };
  model.properties.forEach((p, i) => claim(p.identifier, `properties[${i}]`));
  model.events.forEach((e, i) => claim(e.identifier, `events[${i}]`));
  model.services.forEach((s, i) => claim(s.identifier, `services[${i}]`));
  return JSON.stringify(model);
}
