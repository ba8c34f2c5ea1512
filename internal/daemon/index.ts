export { startDaemon, VERSION, type Daemon, type DaemonOptions, type Addresses } from "./daemon.js";
export { splitHostPort } from "./listen.js";
export { startEdgeRole, type EdgeRoleOptions } from "./edge-role.js";
