export { createAdminServer, type AdminServerOptions } from "./server.js";
export { createAdminService, type AdminContext, type AdminDeps } from "./service.js";
