import { z } from "zod";

/**
 * The configuration file (YAML). Every key has a default; `defaultConfig()`
 * is the embedded single-instance platform that `iotfedd` runs with no file.
 * Unknown keys are refused so that a typo cannot silently fall back to a
 * default. Reference: docs/operating/configuration.md (checked against this schema by a test).
 */
const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, "must be host:port (IPv6 in brackets)")
  .refine((s) => Number(s.slice(s.lastIndexOf(":") + 1)) <= 65535, "port must be 0-65535");

const instanceId = z.string().regex(/^[A-Za-z0-9-]{2,64}$/, "must be 2-64 characters of letters, digits and -");
const regionId = z.string().regex(/^[a-z0-9-]{2,32}$/, "must be 2-32 characters of a-z, 0-9 and -");
const mqttEndpoint = z
  .object({
    host: z.string().regex(/^[A-Za-z0-9.:-]{1,100}$/, "must be a hostname or IP address of at most 100 characters").default("127.0.0.1"),
    port: z.number().int().min(1).max(65535).default(1883),
  })
  .strict();

const tlsFiles = z
  .object({
    /** PEM certificate chain. */
    certFile: z.string().min(1),
    /** PEM private key. */
    keyFile: z.string().min(1),
  })
  .strict();

export const configSchema = z
  .object({
    region: z
      .object({
        /** Region id, e.g. cn-shanghai. */
        id: regionId.default("cn-shanghai"),
        /**
         * Location of the region, used by the nearest strategy; well-known
         * region ids (cn-shanghai, eu-central-1, us-west-1…) have one built in.
         */
        latitude: z.number().min(-90).max(90).optional(),
        longitude: z.number().min(-180).max(180).optional(),
      })
      .strict()
      .prefault({}),
    instance: z
      .object({
        /** Instance id; peers know this daemon by it. */
        id: instanceId.default("iot-embedded"),
        kind: z.enum(["legacy-public", "public", "enterprise"]).default("public"),
        /** The MQTT endpoint bootstrap returns for devices held here. */
        mqtt: mqttEndpoint.prefault({}),
      })
      .strict()
      .prefault({}),
    /** Directory of the SQLite store (and, for the embedded default, its generated keys). */
    dataDir: z.string().min(1).default("./data"),
    /** Where `iotfedctl backup` writes store copies; `<dataDir>/backups` when absent. */
    backupDir: z.string().min(1).optional(),
    listen: z
      .object({
        /** Admin gRPC (operator plane). */
        admin: hostPort.default("127.0.0.1:50051"),
        /** Device bootstrap HTTP (device edge). */
        bootstrap: hostPort.default("127.0.0.1:8080"),
        /** /metrics, /healthz, /readyz (SRE plane). */
        metrics: hostPort.default("127.0.0.1:9464"),
        /** The web console and the admin API with the Connect protocol; off when absent (the embedded default: 127.0.0.1:8081). */
        console: hostPort.optional(),
      })
      .strict()
      .prefault({}),
    tls: z
      .object({
        /** TLS for the admin listener; plaintext when absent (loopback only). */
        admin: tlsFiles.optional(),
        /** TLS for the bootstrap listener (devices use port 443). */
        bootstrap: tlsFiles.optional(),
        /** TLS for the console listener; plaintext when absent (loopback only). */
        console: tlsFiles.optional(),
      })
      .strict()
      .prefault({}),
    /**
     * Honour the test-only environment hooks (IOTFED_CLOCK_OFFSET_FILE).
     * Off: an environment variable alone cannot change how a production
     * daemon behaves.
     */
    testHooks: z.boolean().default(false),
    security: z
      .object({
        /** File with the 32-byte secret-sealing key (base64 or 64 hex chars). Env IOTFED_SEAL_KEY wins. */
        sealKeyFile: z.string().min(1).optional(),
        /** File with the operator token. Env IOTFED_OPERATOR_TOKEN wins. */
        operatorTokenFile: z.string().min(1).optional(),
        /**
         * Serve the admin API without TLS on a non-loopback address (a
         * TLS-terminating proxy in front of it). Off: such a configuration is
         * refused, since the operator token would cross the network in clear.
         */
        allowPlaintextAdmin: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        /** R1: devices per batch call or job (1,000 in the seed; the later API allows 10,000). */
        devicesPerBatch: z.number().int().min(1).max(10000).default(1000),
        /** Largest bootstrap request body accepted. */
        bootstrapMaxBodyBytes: z.number().int().min(256).max(65536).default(4096),
        /** Time allowed for a whole bootstrap request, headers and body. */
        bootstrapRequestTimeoutMs: z.number().int().min(100).max(120000).default(10000),
        /** Open connections at once on the bootstrap listener; more are closed at accept. */
        bootstrapMaxConnections: z.number().int().min(1).max(1000000).default(20000),
        /** Open bootstrap connections from one address (an IPv6 /64 counts as one). */
        bootstrapMaxConnectionsPerIp: z.number().int().min(1).max(1000000).default(256),
        /** Sustained bootstrap requests per second from one address (behind a trusted proxy: the client's); 429 beyond. */
        bootstrapRatePerIp: z.number().min(0.1).max(1000000).default(200),
        /** Requests one address may send at once on top of the rate. */
        bootstrapBurstPerIp: z.number().int().min(1).max(1000000).default(2000),
        /** Keep-alive idle time on the bootstrap listener. */
        bootstrapKeepAliveMs: z.number().int().min(0).max(120000).default(5000),
        /** Largest the SQLite store may grow; writes past it are refused (RESOURCE_EXHAUSTED) and roll back. No limit when absent. */
        storeMaxBytes: z.number().int().min(1048576).optional(),
        /** Largest admin gRPC message received. */
        adminMaxMessageBytes: z.number().int().min(65536).max(64 * 1024 * 1024).default(4 * 1024 * 1024),
      })
      .strict()
      .prefault({}),
    /** The peer plane (gRPC, mutual TLS). Started only when `peers` lists any. */
    peer: z
      .object({
        /** Listen address of the peer gRPC server (started whenever peer.tls is set). */
        listen: hostPort.default("127.0.0.1:50052"),
        /**
         * The address other members call this daemon at, published in its
         * instance record (members join without being configured); the listen
         * address when absent, unless that is a wildcard.
         */
        advertiseAddress: hostPort.optional(),
        /**
         * CA that signs every peer's certificate, and this daemon's certificate
         * (CN = instance.id). Its key also signs this daemon's replicated records.
         */
        tls: z
          .object({
            caFile: z.string().min(1),
            certFile: z.string().min(1),
            keyFile: z.string().min(1),
            /** Members the federation no longer trusts (docs/operating/security.md "Membership"); reloaded on change and on SIGHUP. */
            revocationFile: z.string().min(1).optional(),
          })
          .strict()
          .optional(),
        /** Deadline of one peer call. */
        callTimeoutMs: z.number().int().min(100).max(600000).default(30000),
        /** A job whose target stays unreachable this long becomes `failed` (retry it later). */
        retryWindowMs: z.number().int().min(100).max(86400000).default(300000),
        /** Devices per Handoff call. */
        batchSize: z.number().int().min(1).max(10000).default(250),
      })
      .strict()
      .prefault({}),
    /** The other daemons of the federation. */
    peers: z
      .array(
        z
          .object({
            id: instanceId,
            region: regionId,
            kind: z.enum(["legacy-public", "public", "enterprise"]),
            /** Peer gRPC address, host:port. */
            address: hostPort,
            /** The device endpoint that peer's bootstrap returns. */
            mqtt: mqttEndpoint,
          })
          .strict(),
      )
      .max(1000)
      .default([]),
    /**
     * The replication plane (NATS JetStream). Off when absent: a daemon with
     * no NATS is a complete single-instance platform.
     */
    replication: z
      .object({
        /** NATS servers of this region's cluster, e.g. ["nats://127.0.0.1:4222"]. */
        servers: z.array(z.string().regex(/^(nats|tls):\/\/[A-Za-z0-9.:[\]-]+$|^[A-Za-z0-9.[\]-]+:\d{1,5}$/, "must be nats://host:port, tls://host:port or host:port")).min(1),
        /** KV bucket of the routes (one key per route). Every daemon of a federation uses the same name. */
        bucket: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 characters of letters, digits, _ and -").default("iotfed-routes"),
        /** Replicas of the bucket's stream when this daemon creates it (1, 3 or 5). */
        replicas: z.union([z.literal(1), z.literal(3), z.literal(5)]).default(1),
        /** Create the bucket in this NATS cluster (supercluster placement); the server's cluster when absent. */
        placementCluster: z.string().min(1).optional(),
        /**
         * Supercluster: read routes from a mirror of the bucket in this region's
         * NATS cluster (created when missing), while writes go to the bucket.
         */
        mirror: z
          .object({
            /** Mirror stream name, e.g. KV_iotfed-routes_eu-central-1. */
            stream: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 characters of letters, digits, _ and -"),
            /** NATS cluster to place the mirror in (this region's). */
            cluster: z.string().min(1).optional(),
          })
          .strict()
          .optional(),
        /** A NATS user credentials (.creds) file, for authenticated deployments. */
        credsFile: z.string().min(1).optional(),
        /** CA file for tls:// servers. */
        caFile: z.string().min(1).optional(),
        /**
         * A client certificate and key for NATS (TLS): the server maps the
         * certificate to this daemon's user (verify_and_map; deploy/nats/).
         * Usually the peer certificate, whose name is the instance id.
         */
        certFile: z.string().min(1).optional(),
        keyFile: z.string().min(1).optional(),
        /**
         * Subject prefix of this daemon's reply inboxes. Its own by default, so
         * that NATS permissions can let each daemon read only its own replies.
         */
        inboxPrefix: z
          .string()
          .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, "must be subject tokens of letters, digits, _ and - (no wildcards)")
          .optional(),
        /**
         * required: a record from the stream is applied only when its owner
         * signed it (docs/operating/security.md). optional: during a rolling
         * upgrade, unsigned records of daemons not yet upgraded are applied too,
         * counted in iotfed_replication_unverified_total. Every daemon of a
         * federation sets the same.
         */
        signatures: z.enum(["required", "optional"]).default("required"),
        /** Threads that check record signatures while catching up; 0: one per core. */
        verifyThreads: z.number().int().min(0).max(64).default(0),
        /** Route records published per round from the outbox. */
        publishBatch: z.number().int().min(1).max(10000).default(256),
        /** Replication counts as stale (readyz says so) after this long without being caught up. */
        staleAfterMs: z.number().int().min(100).max(3600000).default(5000),
      })
      .strict()
      .refine((r) => (r.certFile === undefined) === (r.keyFile === undefined), { message: "certFile and keyFile go together", path: ["certFile"] })
      .optional(),
    /** Devices' runtime data (docs/guides/thing-model.md): thing-model values and events kept at the holder. */
    runtimeData: z
      .object({
        /** Values kept per property (the newest; older ones go at the next trim). */
        historyPerProperty: z.number().int().min(1).max(1_000_000).default(1000),
        /** Events kept per device (the newest). */
        eventsPerDevice: z.number().int().min(1).max(1_000_000).default(1000),
        /** How often history and events beyond those bounds are removed. */
        trimIntervalMs: z.number().int().min(100).max(3_600_000).default(10000),
        /** How long SetDeviceProperty and InvokeThingService wait for the device's reply. */
        callTimeoutMs: z.number().int().min(100).max(60000).default(5000),
        /**
         * Stored property posts and events go to `<subjectPrefix>.<accountId>.<productKey>.<deviceName token>.property`
         * (or `.event.<identifier>`) on core NATS, for the owner's account and each grantee's (R15), when replication is on.
         */
        subjectPrefix: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, "must be NATS subject tokens separated by dots").default("iotfed.data"),
      })
      .strict()
      .prefault({}),
    /** The instance's MQTT endpoint run by the daemon itself (devices sign in here). */
    mqtt: z
      .object({
        broker: z
          .object({
            /**
             * Run the embedded broker. Off by default so that a host's own
             * broker on 1883 keeps its port; instance.mqtt is what devices are
             * told, so it must reach this listener.
             */
            enabled: z.boolean().default(false),
            listen: hostPort.default("127.0.0.1:1883"),
            /** TLS (devices' securemode=2); plaintext TCP when absent. */
            tls: tlsFiles.optional(),
            /** A device its job moved (cut-over) has this long to read its bootstrap notify before it is disconnected (R7). */
            notifyGraceMs: z.number().int().min(0).max(60000).default(1000),
          })
          .strict()
          .prefault({}),
        /**
         * An external broker cluster (EMQX style) asks the daemon over HTTP:
         * authentication, authorization and connect/disconnect webhooks.
         */
        external: z
          .object({
            enabled: z.boolean().default(false),
            /** Where the broker's HTTP authn/authz and webhooks call. */
            listen: hostPort.default("127.0.0.1:8091"),
            /** File with the bearer token the broker sends (required when enabled). */
            tokenFile: z.string().min(1).optional(),
            /** The broker's management API, to notify and kick moved devices (R7). */
            api: z
              .object({
                /** e.g. http://emqx:18083 */
                url: z.string().regex(/^https?:\/\/[^\s/]+$/, "must be http(s)://host[:port], no path"),
                /** File with `<api key>:<api secret>`. */
                credentialsFile: z.string().min(1),
              })
              .strict()
              .optional(),
            notifyGraceMs: z.number().int().min(0).max(60000).default(1000),
          })
          .strict()
          .prefault({}),
        /**
         * A sign-in whose `timestamp` (the client id's, milliseconds) is further
         * than this from the daemon's clock is refused: a captured CONNECT
         * cannot be replayed later. 0 turns the check off.
         */
        timestampWindowMs: z.number().int().min(0).max(7 * 86400000).default(900000),
        /** Refuse a sign-in without a `timestamp` (devices that never send one cannot sign in). */
        requireTimestamp: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    /** IP location for the nearest strategy (R3). */
    geo: z
      .object({
        /**
         * City-level MaxMind DB (MMDB) files; when absent, the packaged DB-IP
         * City Lite databases (IPv4 and IPv6) in a federation (peers or
         * replication configured) and none alone; [] for overrides only.
         */
        databases: z.array(z.string().min(1)).max(8).optional(),
        /** Networks located by the operator, checked before the databases (most specific first). */
        overrides: z
          .array(
            z
              .object({
                /** CIDR block, e.g. 10.0.0.0/8 or 2001:db8::/32. */
                cidr: z.string().min(1).max(64),
                latitude: z.number().min(-90).max(90).optional(),
                longitude: z.number().min(-180).max(180).optional(),
                /** Count the network as being in this region (instead of coordinates). */
                region: regionId.optional(),
              })
              .strict()
              .refine((o) => o.region !== undefined || (o.latitude !== undefined && o.longitude !== undefined), "needs region, or latitude and longitude")
              .refine((o) => o.region === undefined || (o.latitude === undefined && o.longitude === undefined), "takes region or coordinates, not both"),
          )
          .max(100000)
          .default([]),
        /** Region coordinates, adding to (and overriding) the built-in table. */
        regions: z
          .record(regionId, z.object({ latitude: z.number().min(-90).max(90), longitude: z.number().min(-180).max(180) }).strict())
          .default({}),
        /** Client addresses whose location is kept in memory. */
        cacheSize: z.number().int().min(16).max(10000000).default(100000),
      })
      .strict()
      .prefault({}),
    /** Nearest-strategy placement at bootstrap (R3). */
    placement: z
      .object({
        /**
         * Peers whose X-Forwarded-For / Forwarded headers are believed (CIDR
         * blocks of the load balancers in front of the bootstrap listener).
         * Headers from any other peer are ignored.
         */
        trustedProxies: z.array(z.string().min(1).max(64)).max(1000).default([]),
        /** How long a bootstrap waits for a move to commit before answering the current holder. */
        waitMs: z.number().int().min(0).max(30000).default(3000),
        /** After a target could not be reached, placements to it are not tried again for this long. */
        unreachableBackoffMs: z.number().int().min(0).max(3600000).default(10000),
        /** Placement requests waiting at once; beyond, a bootstrap is answered with the current holder (counted as shed). */
        maxInFlight: z.number().int().min(1).max(1000000).default(10000),
        /** A failed placement move is retried after this long. */
        retryFailedAfterMs: z.number().int().min(100).max(86400000).default(30000),
        /**
         * The move budget: a device that arrived by a placement move is not
         * moved by placement again for this long; meanwhile its holder answers
         * (refused, counted as `budget`). Someone bootstrapping a device from
         * two continents in turn cannot make it bounce. 0: no budget.
         */
        minMoveIntervalMs: z.number().int().min(0).max(7 * 86400000).default(600000),
      })
      .strict()
      .prefault({}),
    /** Cross-account distribution (R4): authorization codes this instance issues to its accounts. */
    crossAccount: z
      .object({
        /** Codes one requester account may get for one target account per hour (a new code replaces the live one). */
        codesPerHour: z.number().int().min(1).max(1000).default(10),
        /**
         * A new code is announced on `<eventSubjectPrefix>.<targetAccountId>.authcode`
         * (core NATS) for the target account's integrations.
         */
        eventSubjectPrefix: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, "must be NATS subject tokens separated by dots").default("iotfed.account"),
        /**
         * Put the six digits in that event. Only where NATS permissions let
         * nobody but the target account subscribe to its subject; otherwise
         * the event says a code is waiting and the account reads it with
         * `iotfedctl authcode list`.
         */
        eventsIncludeCode: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    /** Distribution jobs' events: state changes told on NATS and to webhooks. */
    jobs: z
      .object({
        /** A job's events go to `<eventSubjectPrefix>.<sourceInstanceId>.<jobId>` (core NATS), when replication is on. */
        eventSubjectPrefix: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, "must be NATS subject tokens separated by dots").default("iotfed.jobs"),
        /** A `job.progress` event each time this many more devices of a job have a result. */
        progressEvery: z.number().int().min(1).max(100000).default(100),
        /** HTTP endpoints that receive every job event as a signed JSON POST, in order. */
        webhooks: z
          .array(
            z
              .object({
                /** http:// or https:// URL. */
                url: z.string().regex(/^https?:\/\/\S+$/, "must be an http:// or https:// URL"),
                /** File holding the shared secret the body is signed with (HMAC-SHA256). */
                secretFile: z.string().min(1),
              })
              .strict(),
          )
          .max(16)
          .default([]),
        /** Attempts per event and webhook before it is dead-lettered (counted, then skipped). */
        webhookMaxAttempts: z.number().int().min(1).max(100).default(8),
        /** Deadline of one webhook request. */
        webhookTimeoutMs: z.number().int().min(100).max(60000).default(5000),
      })
      .strict()
      .prefault({}),
    /** Device authorization (R14-R18). */
    grants: z
      .object({
        /** Kinds of instance where grants are allowed (R18: the seed's legacy public instances). */
        instanceKinds: z.array(z.enum(["legacy-public", "public", "enterprise"])).max(3).default(["legacy-public"]),
      })
      .strict()
      .prefault({}),
    /** The device edge's processes. */
    edge: z
      .object({
        /**
         * Processes that answer bootstrap on the one port (node:cluster), each
         * with its own copy of the route table. auto: one per core, except in
         * the embedded default (0). 0: the daemon's own process answers.
         */
        workers: z.union([z.literal("auto"), z.number().int().min(0).max(256)]).default("auto"),
        /**
         * `iotfedd --role edge` only: the federation CA, which every member's
         * instance record (the keys records are checked with) must chain to.
         */
        caFile: z.string().min(1).optional(),
        /** `iotfedd --role edge` only: members no longer trusted, as peer.tls.revocationFile. */
        revocationFile: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
      })
      .strict()
      .prefault({}),
    /** Shutdown drain deadline. */
    shutdownTimeoutMs: z.number().int().min(100).max(600000).default(10000),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
