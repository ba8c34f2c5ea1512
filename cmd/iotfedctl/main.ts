#!/usr/bin/env node
/**
 * iotfedctl — the operator CLI for iotfedd's admin API. `iotfedctl --help`
 * lists the commands; exit codes are in output.ts and docs/guides/admin-api.md.
 */
import { CommanderError } from "commander";
import { buildProgram } from "./commands.js";
import { EXIT, errorText, exitCodeOf } from "./output.js";

// A reader that goes away (`iotfedctl … | head`) ends the command quietly.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(EXIT.ok);
  throw e;
});

const program = buildProgram();
program.parseAsync(process.argv).then(
  () => {
    process.exitCode = EXIT.ok;
  },
  (e: unknown) => {
    if (e instanceof CommanderError) {
      // Commander already printed help or the usage error.
      process.exitCode = e.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    process.stderr.write(`iotfedctl: ${errorText(e)}\n`);
    process.exitCode = exitCodeOf(e);
  },
);
