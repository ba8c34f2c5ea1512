export { openStore, SchemaError, STORE_FILE, type Db } from "./db.js";
export { SCHEMA_VERSION } from "./migrations.js";
export { createAccountsRepo, type AccountsRepo, type TokenRecord } from "./accounts.js";
export { createProductsRepo, type ProductsRepo, type ProductListener, type ProductRouteSink, type NewProduct } from "./products.js";
export { createDevicesRepo, type DevicesRepo, type DevicesRepoOptions, type DeviceListener, type NewDevice, type RegisterResult, type DeviceFilter } from "./devices.js";
export type { Page } from "./paging.js";
export { createJobsRepo, type JobsRepo, type JobDeviceRecord, type NewJob, type JobFilter } from "./jobs.js";
export { createHandoffApplier, type HandoffApplier, type HandoffInput } from "./handoff.js";
export { createRoutesRepo, type RoutesRepo, type OutboxItem, type ReplicatedRecord } from "./routes.js";
