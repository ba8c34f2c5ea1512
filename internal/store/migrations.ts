/**
 * Versioned schema migrations. The schema version lives in
 * `PRAGMA user_version`; each step runs in its own transaction at start-up.
 * Never edit a released step: append a new one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: accounts, tokens, products (with thing model and script), topic classes, devices, tags
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
    PRIMARY KEY (product_key, device_name)
  ) STRICT, WITHOUT ROWID;

  CREATE TABLE device_tags (
    product_key TEXT NOT NULL,
    device_name TEXT NOT NULL,
    tag_key     TEXT NOT NULL,
    tag_value   TEXT NOT NULL,
    PRIMARY KEY (product_key, device_name, tag_key),
    FOREIGN KEY (product_key, device_name) REFERENCES devices(product_key, device_name) ON DELETE CASCADE
  ) STRICT, WITHOUT ROWID;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;
