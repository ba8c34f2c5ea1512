/**
 * Versioned schema migrations. The schema version lives in
 * `PRAGMA user_version`; each step runs in its own transaction at start-up.
 * Never edit a released step: append a new one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: accounts, tokens, products (with thing model and script), topic classes,
  //    devices (with placement and generation), tags, distribution jobs, the
  //    receiver's applied-handoff record, product copies
  `
  CREATE TABLE accounts (
    account_id   TEXT PRIMARY KEY,
    account_name TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE api_tokens (
    token_id    TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(account_id),
    token_hash  BLOB NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER NOT NULL DEFAULT 0
  ) STRICT;
  CREATE INDEX api_tokens_account ON api_tokens(account_id);

  CREATE TABLE products (
    product_key       TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL REFERENCES accounts(account_id),
    product_name      TEXT NOT NULL,
    node_type         TEXT NOT NULL CHECK (node_type IN ('device','gateway')),
    data_format       TEXT NOT NULL CHECK (data_format IN ('alink-json','custom')),
    auth_type         TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('developing','published')),
    description       TEXT NOT NULL DEFAULT '',
    owner_instance_id TEXT NOT NULL,
    received_from     TEXT NOT NULL DEFAULT '',
    version           INTEGER NOT NULL,
    thing_model       TEXT,
    script_type       TEXT,
    script_content    TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    UNIQUE (account_id, product_name)
  ) STRICT;

  CREATE TABLE topic_classes (
    topic_id    INTEGER PRIMARY KEY,
    product_key TEXT NOT NULL REFERENCES products(product_key) ON DELETE CASCADE,
    short_name  TEXT NOT NULL,
    operation   TEXT NOT NULL CHECK (operation IN ('pub','sub','all')),
    description TEXT NOT NULL DEFAULT '',
    UNIQUE (product_key, short_name)
  ) STRICT;

  CREATE TABLE devices (
    product_key    TEXT NOT NULL REFERENCES products(product_key),
    device_name    TEXT NOT NULL,
    iot_id         TEXT NOT NULL UNIQUE,
    secret_sealed  BLOB NOT NULL,
    nickname       TEXT NOT NULL DEFAULT '',
    state          TEXT NOT NULL CHECK (state IN ('inactive','online','offline')),
    disabled       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    activated_at   INTEGER NOT NULL DEFAULT 0,
    last_online_at INTEGER NOT NULL DEFAULT 0,
    placement      TEXT NOT NULL DEFAULT 'here' CHECK (placement IN ('here','leaving','away')),
    holder         TEXT NOT NULL,
    generation     INTEGER NOT NULL DEFAULT 0,
    leaving_job    TEXT,
    home_instance  TEXT NOT NULL,
    received_from  TEXT NOT NULL DEFAULT '',
    shadow         TEXT,
    shadow_version INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (product_key, device_name)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX devices_away ON devices(product_key, placement, device_name) WHERE placement <> 'here';

  CREATE TABLE device_tags (
    product_key TEXT NOT NULL,
    device_name TEXT NOT NULL,
    tag_key     TEXT NOT NULL,
    tag_value   TEXT NOT NULL,
    PRIMARY KEY (product_key, device_name, tag_key),
    FOREIGN KEY (product_key, device_name) REFERENCES devices(product_key, device_name) ON DELETE CASCADE
  ) STRICT, WITHOUT ROWID;

  CREATE TABLE jobs (
    job_id           TEXT PRIMARY KEY,
    job_type         TEXT NOT NULL CHECK (job_type IN ('product','device')),
    account_id       TEXT NOT NULL,
    product_key      TEXT NOT NULL,
    strategy         TEXT NOT NULL DEFAULT 'specified',
    target_region    TEXT NOT NULL,
    target_instance  TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('initializing','running','completed','failed')),
    total            INTEGER NOT NULL DEFAULT 0,
    succeeded        INTEGER NOT NULL DEFAULT 0,
    failed           INTEGER NOT NULL DEFAULT 0,
    message          TEXT NOT NULL DEFAULT '',
    unreachable_since INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX jobs_status ON jobs(status);
  CREATE INDEX jobs_created ON jobs(created_at DESC, job_id);

  -- The source's outbox: a job's devices still 'pending' are (re)sent until
  -- the target answers for each.
  CREATE TABLE job_devices (
    job_id        TEXT NOT NULL REFERENCES jobs(job_id),
    device_name   TEXT NOT NULL,
    generation    INTEGER NOT NULL,
    result        TEXT NOT NULL CHECK (result IN ('pending','succeeded','failed')),
    error_code    TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, device_name)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX job_devices_pending ON job_devices(job_id, result);

  -- The receiver's record of every (job, device, generation) it answered:
  -- a repeated handoff returns this and changes nothing.
  CREATE TABLE handoffs_applied (
    job_id          TEXT NOT NULL,
    product_key     TEXT NOT NULL,
    device_name     TEXT NOT NULL,
    generation      INTEGER NOT NULL,
    source_instance TEXT NOT NULL,
    accepted        INTEGER NOT NULL,
    error_code      TEXT NOT NULL DEFAULT '',
    error_message   TEXT NOT NULL DEFAULT '',
    applied_at      INTEGER NOT NULL,
    PRIMARY KEY (job_id, product_key, device_name, generation)
  ) STRICT, WITHOUT ROWID;

  -- Instances this one handed a product to; a copy behind the product's
  -- version is brought up to date by the sync worker (owner updates, R9).
  CREATE TABLE product_copies (
    product_key    TEXT NOT NULL REFERENCES products(product_key),
    instance_id    TEXT NOT NULL,
    synced_version INTEGER NOT NULL,
    PRIMARY KEY (product_key, instance_id)
  ) STRICT, WITHOUT ROWID;
  `,
  // 2: the replication plane — routes as this daemon knows them (its own
  //    commits and what it applied from the stream), the last applied
  //    stream revision, and the outbox of route records to publish
  `
  CREATE TABLE device_routes (
    product_key  TEXT NOT NULL,
    device_name  TEXT NOT NULL,
    holder       TEXT NOT NULL,
    generation   INTEGER NOT NULL,
    committed_by TEXT NOT NULL,
    committed_at INTEGER NOT NULL,
    revision     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (product_key, device_name)
  ) STRICT, WITHOUT ROWID;

  CREATE TABLE product_routes (
    product_key  TEXT PRIMARY KEY,
    home         TEXT NOT NULL,
    version      INTEGER NOT NULL,
    deleted      INTEGER NOT NULL DEFAULT 0,
    candidates   TEXT NOT NULL DEFAULT '[]',
    account_id   TEXT NOT NULL,
    product_name TEXT NOT NULL,
    node_type    TEXT NOT NULL,
    status       TEXT NOT NULL,
    region_id    TEXT NOT NULL,
    committed_by TEXT NOT NULL,
    committed_at INTEGER NOT NULL,
    revision     INTEGER NOT NULL DEFAULT 0
  ) STRICT;

  CREATE TABLE instance_routes (
    instance_id  TEXT PRIMARY KEY,
    region_id    TEXT NOT NULL,
    mqtt_host    TEXT NOT NULL,
    mqtt_port    INTEGER NOT NULL,
    version      INTEGER NOT NULL,
    committed_at INTEGER NOT NULL,
    revision     INTEGER NOT NULL DEFAULT 0
  ) STRICT;

  CREATE TABLE replication_state (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    last_revision INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
  ) STRICT;
  INSERT INTO replication_state(id, last_revision, updated_at) VALUES (1, 0, 0);

  -- Routes committed here and not yet published. A row names the route;
  -- the publisher sends that route's current record, so a burst of changes
  -- to one route publishes its newest state.
  CREATE TABLE route_outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL CHECK (kind IN ('device','product','instance')),
    k1         TEXT NOT NULL,
    k2         TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
  ) STRICT;
  `,
  // 3: the nearest strategy (R3) — a product's candidate set at its home,
  //    a job's candidates, and the nearest-managed flag of a device route
  `
  ALTER TABLE products ADD COLUMN nearest_candidates TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE jobs ADD COLUMN candidates TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE device_routes ADD COLUMN nearest INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX device_routes_nearest ON device_routes(product_key, device_name) WHERE nearest = 1;
  CREATE INDEX jobs_failed_placements ON jobs(updated_at) WHERE strategy = 'placement' AND status = 'failed';
  `,
  // 4: devices as MQTT clients — when the bootstrap notify (R7) was sent to
  //    a leaving device, and when it replied
  `
  ALTER TABLE devices ADD COLUMN notify_sent_at INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE devices ADD COLUMN notify_replied_at INTEGER NOT NULL DEFAULT 0;
  `,
  // 5: accounts across regions (a replicated directory), authorization codes
  //    (R4), cross-account jobs, grants (R14-R18), the public pool (R17) and
  //    the audit log of cross-account actions
  `
  ALTER TABLE accounts ADD COLUMN home_instance TEXT NOT NULL DEFAULT '';
  ALTER TABLE accounts ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE accounts ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE jobs ADD COLUMN target_account TEXT NOT NULL DEFAULT '';

  CREATE TABLE route_outbox_v5 (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL CHECK (kind IN ('device','product','instance','account','pool')),
    k1         TEXT NOT NULL,
    k2         TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
  ) STRICT;
  INSERT INTO route_outbox_v5(seq, kind, k1, k2, created_at) SELECT seq, kind, k1, k2, created_at FROM route_outbox;
  DROP TABLE route_outbox;
  ALTER TABLE route_outbox_v5 RENAME TO route_outbox;

  CREATE TABLE auth_codes (
    code_id           TEXT PRIMARY KEY,
    requester_account TEXT NOT NULL,
    requester_name    TEXT NOT NULL,
    requester_peer    TEXT NOT NULL,
    target_account    TEXT NOT NULL REFERENCES accounts(account_id),
    code_sealed       BLOB NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('live','used','expired','void','replaced')),
    failed_tries      INTEGER NOT NULL DEFAULT 0,
    issued_at         INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    used_job          TEXT NOT NULL DEFAULT '',
    used_product      TEXT NOT NULL DEFAULT '',
    used_at           INTEGER NOT NULL DEFAULT 0
  ) STRICT;
  CREATE INDEX auth_codes_pair ON auth_codes(requester_account, target_account, issued_at);
  CREATE INDEX auth_codes_target ON auth_codes(target_account, issued_at DESC);
  CREATE INDEX auth_codes_job ON auth_codes(used_job) WHERE used_job <> '';

  CREATE TABLE grants (
    grant_id        TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('product','device')),
    product_key     TEXT NOT NULL REFERENCES products(product_key),
    device_name     TEXT NOT NULL DEFAULT '',
    grantor_account TEXT NOT NULL REFERENCES accounts(account_id),
    grantee_account TEXT NOT NULL REFERENCES accounts(account_id),
    created_at      INTEGER NOT NULL,
    UNIQUE (product_key, device_name, grantee_account)
  ) STRICT;
  CREATE INDEX grants_grantee ON grants(grantee_account, grant_id);
  CREATE INDEX grants_grantor ON grants(grantor_account, grant_id);

  CREATE TABLE pool_products (
    product_key   TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL,
    account_name  TEXT NOT NULL,
    product_name  TEXT NOT NULL,
    node_type     TEXT NOT NULL,
    data_format   TEXT NOT NULL,
    description   TEXT NOT NULL,
    home          TEXT NOT NULL,
    version       INTEGER NOT NULL,
    topics        TEXT NOT NULL,
    thing_model   TEXT NOT NULL,
    pooled_at     INTEGER NOT NULL,
    committed_by  TEXT NOT NULL,
    committed_at  INTEGER NOT NULL,
    revision      INTEGER NOT NULL DEFAULT 0
  ) STRICT;

  CREATE TABLE audit_log (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    at             INTEGER NOT NULL,
    action         TEXT NOT NULL,
    result         TEXT NOT NULL,
    actor_kind     TEXT NOT NULL,
    actor_account  TEXT NOT NULL,
    actor_address  TEXT NOT NULL,
    account_id     TEXT NOT NULL,
    other_account  TEXT NOT NULL,
    product_key    TEXT NOT NULL,
    device_name    TEXT NOT NULL,
    instance_id    TEXT NOT NULL,
    subject_id     TEXT NOT NULL,
    detail         TEXT NOT NULL
  ) STRICT;
  CREATE INDEX audit_account ON audit_log(account_id, seq);
  CREATE INDEX audit_other ON audit_log(other_account, seq);
  `,
  // 6: cut-over at commit and abort (ARCHITECTURE.md "The handoff", R13).
  // A device received by a handoff is held but does not sign in until its
  // source confirms it released it (devices.arriving_job); the source keeps
  // the confirmations still to send (job_devices.confirmed = 0). Jobs can be
  // aborted (their pending devices go back, result 'aborted'): the jobs and
  // job_devices tables are rebuilt for the new states.
  `
  ALTER TABLE devices ADD COLUMN arriving_job TEXT;

  CREATE TABLE jobs_v6 (
    job_id            TEXT PRIMARY KEY,
    job_type          TEXT NOT NULL CHECK (job_type IN ('product','device')),
    account_id        TEXT NOT NULL,
    product_key       TEXT NOT NULL,
    strategy          TEXT NOT NULL DEFAULT 'specified',
    target_region     TEXT NOT NULL,
    target_instance   TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('initializing','running','completed','failed','aborted')),
    total             INTEGER NOT NULL DEFAULT 0,
    succeeded         INTEGER NOT NULL DEFAULT 0,
    failed            INTEGER NOT NULL DEFAULT 0,
    message           TEXT NOT NULL DEFAULT '',
    unreachable_since INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    candidates        TEXT NOT NULL DEFAULT '[]',
    target_account    TEXT NOT NULL DEFAULT '',
    aborting          TEXT NOT NULL DEFAULT '' CHECK (aborting IN ('', 'fence', 'force')),
    event_status      TEXT NOT NULL DEFAULT '',
    event_settled     INTEGER NOT NULL DEFAULT 0
  ) STRICT;
  INSERT INTO jobs_v6(job_id, job_type, account_id, product_key, strategy, target_region, target_instance, status, total, succeeded, failed, message,
                      unreachable_since, created_at, updated_at, candidates, target_account)
    SELECT job_id, job_type, account_id, product_key, strategy, target_region, target_instance, status, total, succeeded, failed, message,
           unreachable_since, created_at, updated_at, candidates, target_account FROM jobs;
  CREATE TABLE job_devices_v6 (
    job_id        TEXT NOT NULL REFERENCES jobs_v6(job_id),
    device_name   TEXT NOT NULL,
    generation    INTEGER NOT NULL,
    result        TEXT NOT NULL CHECK (result IN ('pending','succeeded','failed','aborted')),
    error_code    TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    confirmed     INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (job_id, device_name)
  ) STRICT, WITHOUT ROWID;
  INSERT INTO job_devices_v6(job_id, device_name, generation, result, error_code, error_message)
    SELECT job_id, device_name, generation, result, error_code, error_message FROM job_devices;
  DROP TABLE job_devices;
  DROP TABLE jobs;
  ALTER TABLE jobs_v6 RENAME TO jobs;
  ALTER TABLE job_devices_v6 RENAME TO job_devices;
  CREATE INDEX jobs_status ON jobs(status);
  CREATE INDEX jobs_created ON jobs(created_at DESC, job_id);
  CREATE INDEX jobs_failed_placements ON jobs(updated_at) WHERE strategy = 'placement' AND status = 'failed';
  CREATE INDEX job_devices_pending ON job_devices(job_id, result);
  CREATE INDEX job_devices_unconfirmed ON job_devices(job_id) WHERE confirmed = 0;

  -- Job events waiting for a webhook: delivered in order, retried with
  -- backoff, dead-lettered after the configured attempts.
  CREATE TABLE job_event_outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook     TEXT NOT NULL,
    body        TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX job_event_outbox_webhook ON job_event_outbox(webhook, seq);
  `,
  // 7: signed records (docs/operating/security.md "Threat model"). A device
  // route keeps its release proof; an instance record its certificates,
  // peer address and kind; the state remembers which key signed this
  // daemon's published records (a new key re-publishes them all).
  `
  ALTER TABLE device_routes ADD COLUMN release BLOB;
  ALTER TABLE instance_routes ADD COLUMN certificates TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE instance_routes ADD COLUMN peer_address TEXT NOT NULL DEFAULT '';
  ALTER TABLE instance_routes ADD COLUMN kind TEXT NOT NULL DEFAULT '';
  ALTER TABLE replication_state ADD COLUMN signing_key TEXT NOT NULL DEFAULT '';
  `,
  // 8: owner-signed product bundles. A copy keeps its owner's signature to
  // relay it unchanged; the owner pushes every copy once more (synced_version
  // 0) so that copies made before signatures get theirs.
  `
  ALTER TABLE products ADD COLUMN owner_certificate BLOB;
  ALTER TABLE products ADD COLUMN owner_signature BLOB;
  UPDATE product_copies SET synced_version = 0;
  `,
  // 9: devices' runtime data (docs/guides/thing-model.md): the latest value
  // of each property, a bounded history of property values and of events;
  // groups and gateway topology (cleared when a device leaves, R8); a job's
  // runtime_data choice and what each device left behind.
  `
  CREATE TABLE property_latest (
    product_key TEXT NOT NULL,
    device_name TEXT NOT NULL,
    identifier  TEXT NOT NULL,
    value       TEXT NOT NULL,
    time        INTEGER NOT NULL,
    PRIMARY KEY (product_key, device_name, identifier),
    FOREIGN KEY (product_key, device_name) REFERENCES devices(product_key, device_name) ON DELETE CASCADE
  ) STRICT, WITHOUT ROWID;

  CREATE TABLE property_history (
    seq         INTEGER PRIMARY KEY,
    product_key TEXT NOT NULL,
    device_name TEXT NOT NULL,
    identifier  TEXT NOT NULL,
    value       TEXT NOT NULL,
    time        INTEGER NOT NULL,
    FOREIGN KEY (product_key, device_name) REFERENCES devices(product_key, device_name) ON DELETE CASCADE
  ) STRICT;
  CREATE INDEX property_history_key ON property_history(product_key, device_name, identifier, time, seq);

  CREATE TABLE device_events (
    seq         INTEGER PRIMARY KEY,
    product_key TEXT NOT NULL,
    device_name TEXT NOT NULL,
    identifier  TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    output      TEXT NOT NULL,
    time        INTEGER NOT NULL,
    FOREIGN KEY (product_key, device_name) REFERENCES devices(product_key, device_name) ON DELETE CASCADE
  ) STRICT;
  CREATE INDEX device_events_key ON device_events(product_key, device_name, time, seq);

  CREATE TABLE device_groups (
    group_id    TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL,
    group_name  TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    UNIQUE (account_id, group_name)
  ) STRICT;

  CREATE TABLE device_group_members (
    group_id    TEXT NOT NULL REFERENCES device_groups(group_id) ON DELETE CASCADE,
    product_key TEXT NOT NULL,
    device_name TEXT NOT NULL,
    added_at    INTEGER NOT NULL,
    PRIMARY KEY (group_id, product_key, device_name),
    FOREIGN KEY (product_key, device_name) REFERENCES devices(product_key, device_name) ON DELETE CASCADE
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX device_group_members_device ON device_group_members(product_key, device_name);

  CREATE TABLE device_topology (
    sub_product_key     TEXT NOT NULL,
    sub_device_name     TEXT NOT NULL,
    gateway_product_key TEXT NOT NULL,
    gateway_device_name TEXT NOT NULL,
    added_at            INTEGER NOT NULL,
    PRIMARY KEY (sub_product_key, sub_device_name),
    FOREIGN KEY (sub_product_key, sub_device_name) REFERENCES devices(product_key, device_name) ON DELETE CASCADE,
    FOREIGN KEY (gateway_product_key, gateway_device_name) REFERENCES devices(product_key, device_name) ON DELETE CASCADE
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX device_topology_gateway ON device_topology(gateway_product_key, gateway_device_name);

  ALTER TABLE jobs ADD COLUMN runtime_data TEXT NOT NULL DEFAULT 'keep' CHECK (runtime_data IN ('keep','migrate'));
  ALTER TABLE job_devices ADD COLUMN note TEXT NOT NULL DEFAULT '';
  `,
  // 10: the route snapshot a clean shutdown leaves (docs/operating/
  // backup-restore.md "Route snapshot"): its id while it matches the store,
  // cleared at start-up before anything is written.
  `
  ALTER TABLE replication_state ADD COLUMN route_snapshot TEXT NOT NULL DEFAULT '';
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;
