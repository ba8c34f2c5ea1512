import type { Db } from "./db.js";
import type { Sealer } from "../security/index.js";
import type { DescribeInstance } from "../domain/index.js";
import type { StoreHub } from "./events.js";
import { recordKinds } from "./record-kinds.js";
import { createOutbox, type Outbox } from "./outbox.js";
import { createRecordsRepo, type RecordsRepo } from "./records.js";
import { createAccountsRepo } from "./accounts.js";
import { createProductsRepo } from "./products.js";
import { createDevicesRepo } from "./devices.js";
import { createJobsRepo } from "./jobs.js";
import { createHandoffApplier } from "./handoff.js";
import { createAuthCodesRepo } from "./auth-codes.js";
import { createGrantsRepo } from "./grants.js";
import { createAuditRepo } from "./audit.js";
import { createJobEventsRepo } from "./job-events.js";
import { translatingErrors } from "./errors.js";
import { createRuntimeData } from "./runtime-data.js";
import { createGroupsRepo } from "./groups.js";
import { createTopologyRepo } from "./topology.js";

/** The replication plane's tables: what the instance directory and every repository build on. */
export interface ReplicationStore {
  outbox: Outbox;
  records: RecordsRepo;
}

/** Phase 1: the replicated records and their outbox. */
export function createReplicationStore(db: Db, hub: StoreHub, now: () => number = Date.now): ReplicationStore {
  const kinds = recordKinds(db);
  const outbox = createOutbox(db, kinds, now);
  return { outbox, records: createRecordsRepo(db, { outbox, hub, kinds, now }) };
}

export interface RepositoriesOptions extends ReplicationStore {
  db: Db;
  sealer: Sealer;
  hub: StoreHub;
  /** This instance's id and region. */
  self: string;
  regionId: string;
  /** Names an instance for people (`region/instance`), in refusals. */
  where: DescribeInstance;
  /** Authorization codes a pair of accounts may get per hour (R4). */
  codesPerHour?: number;
  /** The clock of authorization codes (expiry, rate limit). */
  codeClock?: () => number;
  /** Bounds of devices' runtime data (runtimeData in the configuration). */
  runtimeData?: { historyPerProperty: number; eventsPerDevice: number };
  now?: () => number;
}

export type Repositories = ReturnType<typeof createRepositories>;

/**
 * Phase 2: every repository of the instance store over one connection.
 * Each announces its commits on `hub`; none is bound to another part after
 * construction.
 */
export function createRepositories(o: RepositoriesOptions) {
  const { db, sealer, hub, self, where, records } = o;
  const now = o.now ?? Date.now;
  const accounts = createAccountsRepo(db, { self, records, now });
  const devices = createDevicesRepo({ db, sealer, hub, self, where, now });
  const products = createProductsRepo({ db, hub, records, devices, self, where, regionId: o.regionId, now });
  const runtime = createRuntimeData(db, { historyPerProperty: o.runtimeData?.historyPerProperty ?? 1000, eventsPerDevice: o.runtimeData?.eventsPerDevice ?? 1000 });
  const groups = createGroupsRepo(db, now);
  const topology = createTopologyRepo(db, now);
  const jobs = createJobsRepo({ db, self, where, hub, records, devices, runtime, now });
  const handoff = createHandoffApplier({ db, self, where, hub, records, accounts, devices, products, runtime, now });
  const authCodes = createAuthCodesRepo({ db, sealer, now: o.codeClock ?? now, ...(o.codesPerHour === undefined ? {} : { maxPerHour: o.codesPerHour }) });
  const grants = createGrantsRepo(db, now);
  const audit = createAuditRepo(db, hub, now);
  const jobEvents = createJobEventsRepo(db, now);
  // Callers see domain errors only (a full store, a failing disk), never SQLite's.
  return {
    outbox: translatingErrors(o.outbox),
    records: translatingErrors(records),
    accounts: translatingErrors(accounts),
    products: translatingErrors(products),
    devices: translatingErrors(devices),
    jobs: translatingErrors(jobs),
    handoff: translatingErrors(handoff),
    authCodes: translatingErrors(authCodes),
    grants: translatingErrors(grants),
    audit: translatingErrors(audit),
    jobEvents: translatingErrors(jobEvents),
    runtime: translatingErrors(runtime),
    groups: translatingErrors(groups),
    topology: translatingErrors(topology),
  };
}
