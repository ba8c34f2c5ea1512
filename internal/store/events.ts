import type { EventHub, Job, Product } from "../domain/index.js";
import type { AuditEntry } from "./audit.js";
import type { RecordKindName } from "./record-kinds.js";

/**
 * What the repositories announce after a commit (ARCHITECTURE.md "The
 * bootstrap hot path": the route table follows the store without reading
 * it on a request). Payloads carry no secret.
 */
export interface StoreEvents {
  /** A product was created or changed here, or a copy was received or synced. */
  "product.changed": Product;
  "product.deleted": { productKey: string };
  /** A device row changed; `holder` answers its bootstrap (this instance unless away). */
  "device.changed": { productKey: string; deviceName: string; holder: string; disabled: boolean };
  "device.deleted": { productKey: string; deviceName: string };
  /** R7: the device's target accepted it (cut-over): it is notified and its session here is cut. */
  "device.moved": { productKey: string; deviceName: string };
  /** A replicated record was queued in the outbox for the stream. */
  "record.queued": { kind: RecordKindName };
  /** A job was created, or its state was committed by the job worker. */
  "job.changed": Job;
  /** A cross-account action was written to the audit log. */
  "audit.recorded": AuditEntry;
}

export type StoreHub = EventHub<StoreEvents>;
