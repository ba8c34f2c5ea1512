export { createAdminServer, type AdminServerOptions } from "./server.js";
export { createAdminService, type AdminContext, type AdminDeps } from "./service.js";
export { ACT_AS_HEADER } from "./auth.js";
