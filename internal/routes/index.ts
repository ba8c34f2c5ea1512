export { CompactKeyTable, type Entry } from "./compact-table.js";
export {
  RouteTable,
  FLAG_DISABLED,
  LOOKUP_UNKNOWN_PRODUCT,
  LOOKUP_UNKNOWN_DEVICE,
  LOOKUP_DISABLED,
  type RouteTableStats,
} from "./route-table.js";
