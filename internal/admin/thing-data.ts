import { InvalidArgumentError, pageSize, type ThingModel } from "../domain/index.js";
import type { TimeRange } from "../store/index.js";
import type { HandlerKit, Handlers } from "./context.js";

type ThingDataMethods = "queryDevicePropertyStatus" | "queryDevicePropertyData" | "queryDeviceEventData" | "setDeviceProperty" | "invokeThingService";

const MAX_ITEMS_JSON = 64 * 1024;

/** A JSON object from a request field, or a refusal naming the field. */
function jsonObject(text: string, field: string): Record<string, unknown> {
  if (Buffer.byteLength(text) > MAX_ITEMS_JSON) throw new InvalidArgumentError(field, `must be at most ${MAX_ITEMS_JSON} bytes`);
  let v: unknown;
  try {
    v = JSON.parse(text === "" ? "{}" : text);
  } catch {
    throw new InvalidArgumentError(field, "is not valid JSON");
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new InvalidArgumentError(field, "must be a JSON object");
  return v as Record<string, unknown>;
}

/** A time range of a query: end 0 is now; start after end is refused. */
function range(req: { startTimeMs: bigint; endTimeMs: bigint; asc: boolean; pageSize: number; pageToken: string }): TimeRange {
  const start = Number(req.startTimeMs);
  const end = req.endTimeMs === 0n ? Date.now() : Number(req.endTimeMs);
  if (start < 0) throw new InvalidArgumentError("start_time_ms", "must not be negative");
  if (end < start) throw new InvalidArgumentError("end_time_ms", "must not be before start_time_ms");
  return { startTime: start, endTime: end, asc: req.asc, pageSize: pageSize(req.pageSize), pageToken: req.pageToken };
}

/**
 * Thing-model data (docs/guides/thing-model.md): what devices posted,
 * read by the owner or a grantee (R15: read only), and property sets and
 * service calls sent by the owner to an online device held here.
 */
export function thingDataHandlers({ deps, access }: HandlerKit): Handlers<ThingDataMethods> {
  const { products, runtime } = deps.repos;
  const model = (productKey: string): ThingModel => JSON.parse(products.thingModel(productKey)) as ThingModel;
  return {
    queryDevicePropertyStatus(req, ctx) {
      access.visibleDevice(ctx, req.productKey, req.deviceName);
      const latest = new Map(runtime.latest(req.productKey, req.deviceName).map((v) => [v.identifier, v]));
      return {
        properties: model(req.productKey).properties.map((p) => {
          const v = latest.get(p.identifier);
          return { identifier: p.identifier, name: p.name, dataType: p.dataType.type, accessMode: p.accessMode, valueJson: v?.value ?? "", timeMs: BigInt(v?.time ?? 0) };
        }),
      };
    },
    queryDevicePropertyData(req, ctx) {
      access.visibleDevice(ctx, req.productKey, req.deviceName);
      if (!model(req.productKey).properties.some((p) => p.identifier === req.identifier)) throw new InvalidArgumentError("identifier", `${req.identifier || "(empty)"} is not a property of the thing model`);
      const page = runtime.history(req.productKey, req.deviceName, req.identifier, range(req));
      return { points: page.items.map((v) => ({ valueJson: v.value, timeMs: BigInt(v.time) })), nextPageToken: page.nextPageToken };
    },
    queryDeviceEventData(req, ctx) {
      access.visibleDevice(ctx, req.productKey, req.deviceName);
      if (req.identifier !== "" && !model(req.productKey).events.some((e) => e.identifier === req.identifier)) throw new InvalidArgumentError("identifier", `${req.identifier} is not an event of the thing model`);
      const page = runtime.events(req.productKey, req.deviceName, req.identifier, range(req));
      return { events: page.items.map((e) => ({ identifier: e.identifier, eventType: e.eventType, outputJson: e.output, timeMs: BigInt(e.time) })), nextPageToken: page.nextPageToken };
    },
    async setDeviceProperty(req, ctx) {
      access.heldDevice(ctx, req.productKey, req.deviceName);
      const r = await deps.thing.setProperty(req.productKey, req.deviceName, jsonObject(req.itemsJson, "items_json"));
      return { messageId: r.id, code: r.code, message: r.message };
    },
    async invokeThingService(req, ctx) {
      access.heldDevice(ctx, req.productKey, req.deviceName);
      if (req.identifier === "") throw new InvalidArgumentError("identifier", "is required");
      const r = await deps.thing.invokeService(req.productKey, req.deviceName, req.identifier, jsonObject(req.argsJson, "args_json"));
      return { messageId: r.id, code: r.code, message: r.message, dataJson: JSON.stringify(r.data ?? {}) };
    },
  };
}
