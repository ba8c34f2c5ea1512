export { createAdminServer, type AdminServerOptions } from "./server.js";
export { createAdminService } from "./service.js";
export type { AdminContext, AdminDeps, AuthCodePeer } from "./context.js";
