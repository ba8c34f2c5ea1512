export { createReplicator, type Replicator, type ReplicatorOptions } from "./replicator.js";
export { encodeToken, decodeToken } from "./keys.js";
export { keyOf, encodeRecord, decodeRecord, sealRecord, openRecord, RecordError, type OpenedRecord, type RecordSignature } from "./codec.js";
export { createRecordGate, type RecordGate, type Refused, type Admitted, type GateEntry } from "./record-gate.js";
