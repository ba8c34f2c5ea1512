import type { Db } from "./db.js";
import { InvalidArgumentError, type PostedProperty } from "../domain/index.js";

/** A property's value at a time (the value as JSON text). */
export interface PropertyValue {
  identifier: string;
  value: string;
  time: number;
}

export interface DeviceEvent {
  identifier: string;
  eventType: string;
  /** The event's output as JSON text. */
  output: string;
  time: number;
}

/** What one flush writes: property posts and events of many devices. */
export interface RuntimeBatch {
  properties: { productKey: string; deviceName: string; properties: PostedProperty[] }[];
  events: ({ productKey: string; deviceName: string } & DeviceEvent)[];
}

export interface TimeRange {
  startTime: number;
  endTime: number;
  /** Oldest first; newest first otherwise. */
  asc: boolean;
  pageSize: number;
  pageToken: string;
}

export interface TimePage<T> {
  items: T[];
  nextPageToken: string;
}

const key = (pk: string, dn: string, id = ""): string => `${pk}\0${dn}\0${id}`;

/** A page token: the time and sequence of the last row returned. */
function decodeCursor(token: string): { time: number; seq: number } | undefined {
  if (token === "") return undefined;
  const m = /^(\d{1,16})\.(\d{1,16})$/.exec(Buffer.from(token, "base64url").toString("utf8"));
  if (m === null) throw new InvalidArgumentError("page_token", "is not a token returned by this API");
  return { time: Number(m[1]), seq: Number(m[2]) };
}
const encodeCursor = (time: number, seq: number): string => Buffer.from(`${time}.${seq}`).toString("base64url");

/**
 * A device's runtime data at its holder (R8; docs/guides/thing-model.md):
 * the latest value of each property with its time, a history of property
 * values and of events, each bounded in count (the oldest go first). It
 * stays here when the device leaves and is found again if it comes back;
 * a job with `runtime_data: migrate` takes the latest values with it.
 */
export function createRuntimeData(db: Db, opts: { historyPerProperty: number; eventsPerDevice: number }) {
  const upsertLatest = db.prepare(
    `INSERT INTO property_latest(product_key, device_name, identifier, value, time) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT DO UPDATE SET value = excluded.value, time = excluded.time WHERE excluded.time >= property_latest.time`,
  );
  const insertHistory = db.prepare("INSERT INTO property_history(product_key, device_name, identifier, value, time) VALUES (?, ?, ?, ?, ?)");
  const insertEvent = db.prepare("INSERT INTO device_events(product_key, device_name, identifier, event_type, output, time) VALUES (?, ?, ?, ?, ?, ?)");
  const selectLatest = db.prepare<[string, string], { identifier: string; value: string; time: number }>(
    "SELECT identifier, value, time FROM property_latest WHERE product_key = ? AND device_name = ? ORDER BY identifier",
  );
  const deleteLatest = db.prepare("DELETE FROM property_latest WHERE product_key = ? AND device_name = ?");
  const historyPage = (asc: boolean) =>
    db.prepare<[string, string, string, number, number, number, number, number, number], { seq: number; value: string; time: number }>(
      `SELECT seq, value, time FROM property_history
       WHERE product_key = ? AND device_name = ? AND identifier = ? AND time >= ? AND time <= ?
         AND (time ${asc ? ">" : "<"} ? OR (time = ? AND seq ${asc ? ">" : "<"} ?))
       ORDER BY time ${asc ? "ASC" : "DESC"}, seq ${asc ? "ASC" : "DESC"} LIMIT ?`,
    );
  const historyAsc = historyPage(true);
  const historyDesc = historyPage(false);
  const eventsPage = (asc: boolean) =>
    db.prepare<[string, string, string, string, number, number, number, number, number, number], { seq: number; identifier: string; event_type: string; output: string; time: number }>(
      `SELECT seq, identifier, event_type, output, time FROM device_events
       WHERE product_key = ? AND device_name = ? AND (? = '' OR identifier = ?) AND time >= ? AND time <= ?
         AND (time ${asc ? ">" : "<"} ? OR (time = ? AND seq ${asc ? ">" : "<"} ?))
       ORDER BY time ${asc ? "ASC" : "DESC"}, seq ${asc ? "ASC" : "DESC"} LIMIT ?`,
    );
  const eventsAsc = eventsPage(true);
  const eventsDesc = eventsPage(false);
  const trimHistory = db.prepare(
    `DELETE FROM property_history WHERE seq IN (
       SELECT seq FROM property_history WHERE product_key = ? AND device_name = ? AND identifier = ? ORDER BY time DESC, seq DESC LIMIT -1 OFFSET ?)`,
  );
  const trimEvents = db.prepare(
    `DELETE FROM device_events WHERE seq IN (
       SELECT seq FROM device_events WHERE product_key = ? AND device_name = ? ORDER BY time DESC, seq DESC LIMIT -1 OFFSET ?)`,
  );
  const allHistoryKeys = db.prepare<[number], { product_key: string; device_name: string; identifier: string }>(
    "SELECT product_key, device_name, identifier FROM property_history GROUP BY product_key, device_name, identifier HAVING count(*) > ?",
  );
  const allEventKeys = db.prepare<[number], { product_key: string; device_name: string }>(
    "SELECT product_key, device_name FROM device_events GROUP BY product_key, device_name HAVING count(*) > ?",
  );

  /** Keys written since the last trim (bounded: past it, the next trim looks at every key). */
  const TOUCHED_MAX = 200_000;
  let touchedHistory = new Set<string>();
  let touchedEvents = new Set<string>();
  let overflow = false;
  const touch = (set: Set<string>, k: string): void => {
    if (set.size >= TOUCHED_MAX) overflow = true;
    else set.add(k);
  };

  return {
    /** Writes a batch of property posts and events in one transaction. */
    record(batch: RuntimeBatch): void {
      db.transaction(() => {
        for (const p of batch.properties) {
          for (const v of p.properties) {
            upsertLatest.run(p.productKey, p.deviceName, v.identifier, v.value, v.time);
            insertHistory.run(p.productKey, p.deviceName, v.identifier, v.value, v.time);
            touch(touchedHistory, key(p.productKey, p.deviceName, v.identifier));
          }
        }
        for (const e of batch.events) {
          insertEvent.run(e.productKey, e.deviceName, e.identifier, e.eventType, e.output, e.time);
          touch(touchedEvents, key(e.productKey, e.deviceName));
        }
      })();
    },
    /** QueryDevicePropertyStatus: the latest value of each property that has one. */
    latest(productKey: string, deviceName: string): PropertyValue[] {
      return selectLatest.all(productKey, deviceName);
    },
    /** QueryDevicePropertyData: one property's values in a time range, paged. */
    history(productKey: string, deviceName: string, identifier: string, r: TimeRange): TimePage<PropertyValue> {
      const c = decodeCursor(r.pageToken) ?? (r.asc ? { time: r.startTime, seq: -1 } : { time: r.endTime, seq: Number.MAX_SAFE_INTEGER });
      const rows = (r.asc ? historyAsc : historyDesc).all(productKey, deviceName, identifier, r.startTime, r.endTime, c.time, c.time, c.seq, r.pageSize + 1);
      const items = rows.slice(0, r.pageSize);
      const last = items[items.length - 1];
      return { items: items.map((x) => ({ identifier, value: x.value, time: x.time })), nextPageToken: rows.length > r.pageSize && last !== undefined ? encodeCursor(last.time, last.seq) : "" };
    },
    /** QueryDeviceEventData: events in a time range (of one identifier, or all), paged. */
    events(productKey: string, deviceName: string, identifier: string, r: TimeRange): TimePage<DeviceEvent> {
      const c = decodeCursor(r.pageToken) ?? (r.asc ? { time: r.startTime, seq: -1 } : { time: r.endTime, seq: Number.MAX_SAFE_INTEGER });
      const rows = (r.asc ? eventsAsc : eventsDesc).all(productKey, deviceName, identifier, identifier, r.startTime, r.endTime, c.time, c.time, c.seq, r.pageSize + 1);
      const items = rows.slice(0, r.pageSize);
      const last = items[items.length - 1];
      return {
        items: items.map((x) => ({ identifier: x.identifier, eventType: x.event_type, output: x.output, time: x.time })),
        nextPageToken: rows.length > r.pageSize && last !== undefined ? encodeCursor(last.time, last.seq) : "",
      };
    },
    /**
     * Keeps each property's newest `historyPerProperty` values and each
     * device's newest `eventsPerDevice` events, for what was written since
     * the last trim. Returns the rows removed.
     */
    trim(): number {
      const h = touchedHistory;
      const e = touchedEvents;
      const all = overflow;
      touchedHistory = new Set();
      touchedEvents = new Set();
      overflow = false;
      return db.transaction(() => {
        let removed = 0;
        const hKeys = all ? allHistoryKeys.all(opts.historyPerProperty).map((r) => key(r.product_key, r.device_name, r.identifier)) : h;
        for (const k of hKeys) {
          const [pk, dn, id] = k.split("\0") as [string, string, string];
          removed += trimHistory.run(pk, dn, id, opts.historyPerProperty).changes;
        }
        const eKeys = all ? allEventKeys.all(opts.eventsPerDevice).map((r) => key(r.product_key, r.device_name)) : e;
        for (const k of eKeys) {
          const [pk, dn] = k.split("\0") as [string, string];
          removed += trimEvents.run(pk, dn, opts.eventsPerDevice).changes;
        }
        return removed;
      })();
    },
    /** runtime_data: migrate — the latest values left with the device; none stay here (call in the job's transaction). */
    clearLatest(productKey: string, deviceName: string): void {
      deleteLatest.run(productKey, deviceName);
    },
    /** The latest values a device brought (migrate) replace those kept here (call in the handoff's transaction). */
    putLatest(productKey: string, deviceName: string, values: readonly PropertyValue[]): void {
      deleteLatest.run(productKey, deviceName);
      for (const v of values) upsertLatest.run(productKey, deviceName, v.identifier, v.value, v.time);
    },
  };
}

export type RuntimeDataRepo = ReturnType<typeof createRuntimeData>;
