export { createReplicator, type Replicator, type ReplicatorOptions } from "./replicator.js";
export { encodeToken, decodeToken, keyOf, orderOf } from "./keys.js";
export { encodeRecord, decodeRecord, RecordError } from "./codec.js";
