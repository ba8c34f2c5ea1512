export { createReplicator, type Replicator, type ReplicatorOptions } from "./replicator.js";
export { encodeToken, decodeToken } from "./keys.js";
export { keyOf, encodeRecord, decodeRecord, RecordError } from "./codec.js";
