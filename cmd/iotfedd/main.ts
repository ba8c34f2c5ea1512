#!/usr/bin/env node
/**
 * iotfedd — the federation daemon for one region+instance.
 *
 *   iotfedd [--config FILE]       (or IOTFED_CONFIG=FILE)
 *   iotfedd --role edge --config FILE
 *
 * With no configuration it runs the embedded default: a complete single
 * instance in region cn-shanghai, data in ./data, listeners on loopback.
 *
 * Exit codes: 0 stopped cleanly on SIGTERM/SIGINT; 1 failed while running or
 * starting; 2 bad usage or configuration (the message names the key).
 */
import { parseArgs } from "node:util";
import { loadConfig } from "../../internal/config/index.js";
import { ConfigurationError } from "../../internal/domain/index.js";
import { createLogger } from "../../internal/log/index.js";
import { startDaemon, startEdgeRole, VERSION } from "../../internal/daemon/index.js";

const USAGE = `usage: iotfedd [--config FILE] [--role daemon|edge] [--version]

  --config FILE   YAML configuration (default: $IOTFED_CONFIG, else the embedded default)
  --role ROLE     daemon (default): the region+instance's authority;
                  edge: only the device edge, following the routes bucket
                  (docs/guides/device-edge.md "Stateless edges")
  --version       print the version and exit

Environment: IOTFED_CONFIG, IOTFED_SEAL_KEY, IOTFED_OPERATOR_TOKEN.
Exit codes: 0 clean stop, 1 runtime failure, 2 usage or configuration error.`;

async function main(): Promise<number> {
  // Everything the daemon writes (store, WAL, backups, generated keys) is its own only.
  process.umask(0o077);
  let args;
  try {
    args = parseArgs({ options: { config: { type: "string" }, role: { type: "string", default: "daemon" }, version: { type: "boolean" }, help: { type: "boolean", short: "h" } }, strict: true });
  } catch (e) {
    process.stderr.write(`iotfedd: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args.values.help) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  if (args.values.version) {
    process.stdout.write(`iotfedd ${VERSION}\n`);
    return 0;
  }
  const role = args.values.role;
  if (role !== "daemon" && role !== "edge") {
    process.stderr.write(`iotfedd: --role must be daemon or edge, not ${role}\n${USAGE}\n`);
    return 2;
  }
  let loaded;
  try {
    loaded = loadConfig(args.values.config);
    if (role === "edge" && loaded.embedded) throw new ConfigurationError("", "--role edge needs a configuration file (--config or IOTFED_CONFIG): an edge follows a federation's routes bucket");
  } catch (e) {
    if (e instanceof ConfigurationError) {
      process.stderr.write(`iotfedd: configuration error: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const logger = createLogger(loaded.config.log.level);
  let daemon;
  try {
    daemon = role === "edge" ? await startEdgeRole({ loaded, logger }) : await startDaemon({ loaded, logger });
  } catch (e) {
    // Every configuration problem (a key, a file it names, a listen address, the store's schema) is a ConfigurationError.
    const configish = e instanceof ConfigurationError;
    logger.fatal({ err: e }, "start-up failed");
    process.stderr.write(`iotfedd: ${configish ? "configuration error" : "start-up failed"}: ${(e as Error).message}\n`);
    return configish ? 2 : 1;
  }
  return await new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, "shutting down");
      daemon.stop().then(
        () => resolve(0),
        (e: unknown) => {
          logger.error({ err: e }, "shutdown failed");
          resolve(1);
        },
      );
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  });
}

main().then(
  (code) => {
    process.exitCode = code;
    // Everything is closed; a client library's leftover timer must not hold the exit.
    setTimeout(() => process.exit(code), 500).unref();
  },
  (e: unknown) => {
    process.stderr.write(`iotfedd: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
