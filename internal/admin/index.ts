export { createAdminServer, type AdminServerOptions } from "./server.js";
export type { AdminContext, AdminDeps, AuthCodePeer } from "./context.js";
