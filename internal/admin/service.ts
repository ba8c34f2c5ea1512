import { createAccess } from "./access.js";
import { createAudited } from "./audited.js";
import type { AdminDeps, AdminHandlers, HandlerKit } from "./context.js";
import { instanceHandlers } from "./backup.js";
import { accountHandlers } from "./accounts.js";
import { productHandlers } from "./products.js";
import { deviceHandlers } from "./devices.js";
import { jobHandlers } from "./jobs.js";
import { createCrossAccount } from "./cross-account.js";
import { grantHandlers } from "./grants.js";
import { poolHandlers } from "./pool.js";
import { auditHandlers } from "./audit.js";
import { thingDataHandlers } from "./thing-data.js";
import { groupHandlers } from "./groups.js";

/**
 * The admin API: validation, access (access.ts), then one repository call
 * (one transaction) per logical change. Each resource's handlers are in a
 * file of their own; the type of the result makes sure every method of
 * AdminService has one.
 */
export function createAdminService(deps: AdminDeps): AdminHandlers {
  const kit: HandlerKit = { deps, access: createAccess(deps), audited: createAudited(deps.repos.audit) };
  const crossAccount = createCrossAccount(kit);
  return {
    ...instanceHandlers(kit),
    ...accountHandlers(kit),
    ...productHandlers(kit),
    ...deviceHandlers(kit),
    ...jobHandlers(kit, crossAccount),
    ...crossAccount.handlers,
    ...grantHandlers(kit),
    ...poolHandlers(kit),
    ...auditHandlers(kit),
    ...thingDataHandlers(kit),
    ...groupHandlers(kit),
  };
}
