import { Command } from "commander";
import { addInstanceCommands } from "./commands/instance.js";
import { addAccountCommands } from "./commands/accounts.js";
import { addProductCommands } from "./commands/products.js";
import { addDeviceCommands } from "./commands/devices.js";
import { addJobCommands } from "./commands/jobs.js";
import { addThingCommands } from "./commands/thing.js";
import { addAuditCommands, addAuthCodeCommands, addGrantCommands, addPoolCommands } from "./commands/cross-account.js";

/** The iotfedctl program: global options, then one file of commands per resource (commands/). */
export function buildProgram(): Command {
  const program = new Command("iotfedctl")
    .description("Operator CLI for iotfedd: accounts, products, topic classes, thing models, scripts, devices and their data, groups, topology, jobs.")
    .option("-s, --server <host:port>", "admin API address (env IOTFED_SERVER; default 127.0.0.1:50051)")
    .option("-t, --token <token>", "bearer token (env IOTFED_TOKEN)")
    .option("--token-file <file>", "read the token from a file (env IOTFED_TOKEN_FILE; default ./data/operator.token when present)")
    .option("-c, --config <file>", "YAML with server, token, tokenFile, ca, tls, asAccount (env IOTFED_CTL_CONFIG)")
    .option("--ca <file>", "PEM CA to verify the admin TLS certificate (implies --tls; env IOTFED_CA)")
    .option("--tls", "use TLS with the system's CAs")
    .option("-A, --as-account <accountId>", "with the operator token: act for this account (env IOTFED_ACCOUNT)")
    .option("--json", "print machine-readable JSON")
    .option("--timeout <seconds>", "per-call deadline", "30")
    .exitOverride()
    .showHelpAfterError()
    .addHelpText(
      "after",
      "\nExit codes: 0 ok, 1 refused by the daemon, 2 usage error, 3 not authenticated or not allowed,\n4 not found, 5 daemon unreachable or timed out, 6 batch finished with failed items.",
    );

  addInstanceCommands(program);
  addAccountCommands(program);
  addProductCommands(program);
  addDeviceCommands(program);
  addJobCommands(program);
  addThingCommands(program);
  addAuthCodeCommands(program);
  addGrantCommands(program);
  addPoolCommands(program);
  addAuditCommands(program);
  return program;
}
