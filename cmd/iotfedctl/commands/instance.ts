import type { Command } from "commander";
import { BackupResponseSchema, PrincipalKind, WhoAmIResponseSchema } from "../../../internal/gen/iotfed/v1/admin_pb.js";
import { act } from "../kit.js";
import { enumText, printFields, printJson } from "../output.js";

/** `whoami` and `backup`. */
export function addInstanceCommands(program: Command): void {
  program
    .command("backup")
    .description("write an online, consistent copy of the daemon's store into its backup directory (operator; SQLite backup API)")
    .option("--name <file>", "file name in the backup directory (default iotfed-<instance>-<time>.db)", "")
    .action(
      act(program, (o: { name: string }) => async (c, json) => {
        const r = await c.backup({ name: o.name }, { deadlineMs: 3_600_000 });
        if (json) return printJson(BackupResponseSchema, r);
        printFields([
          ["path", r.path],
          ["bytes", r.bytes],
          ["schemaVersion", r.schemaVersion],
          ["lastRevision", r.lastRevision],
          ["durationMs", r.durationMs],
        ]);
      }),
    );
  program.command("whoami").description("show who the token is and which daemon answers").action(
    act(program, () => async (c, json) => {
      const r = await c.whoAmI({});
      if (json) return printJson(WhoAmIResponseSchema, r);
      printFields([
        ["kind", enumText(PrincipalKind, r.kind)],
        ["accountId", r.accountId || "-"],
        ["region", r.regionId],
        ["instance", r.instanceId],
      ]);
    }),
  );
}
