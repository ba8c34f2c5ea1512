export { createInstanceDirectory, type InstanceDirectory, type ConfiguredInstance, type KnownInstance } from "./instance-directory.js";
export { createRouteSync, type RouteSync, type RouteSyncOptions } from "./route-sync.js";
export { readRouteSnapshot, writeRouteSnapshot, removeRouteSnapshot, routeSnapshotPath, ROUTE_SNAPSHOT_FILE } from "./route-snapshot.js";
