export * from "./keys.js";
export * from "./merkle.js";
export * from "./release.js";
export * from "./members.js";
export * from "./revocations.js";
export * from "./ownership.js";
export * from "./verify-pool.js";
export type { VerifyItem } from "./verify-work.js";
export { releaseToWire, releaseFromWire } from "./release-wire.js";
