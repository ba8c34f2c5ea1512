export { createAdminServer, type AdminServerOptions } from "./server.js";
export type { AdminContext, AdminDeps, PeerCalls } from "./context.js";
export { createForwardedJobCalls } from "./forward.js";
