export { FingerprintTable, type FingerprintTableState } from "./fingerprint-table.js";
export { SipKey, sip128, sip128Parts, sip13Parts } from "./siphash.js";
export {
  RouteTable,
  FLAG_DISABLED,
  FLAG_NEAREST,
  LOOKUP_UNKNOWN_PRODUCT,
  LOOKUP_UNKNOWN_DEVICE,
  LOOKUP_DISABLED,
  type RouteTableStats,
  type RouteSnapshot,
  type RouteSnapshotMeta,
  type RouteOp,
} from "./route-table.js";
