/**
 * The thing bench's baseline: a bare aedes broker (the one the daemon
 * embeds) on a loopback port, accepting every client and every publish,
 * doing nothing with them. Prints its port on standard output.
 */
import { createServer } from "node:net";
import { Aedes } from "aedes";

const aedes = await Aedes.createBroker({ queueLimit: 42 });
const server = createServer({ noDelay: true }, aedes.handle);
server.listen(0, "127.0.0.1", () => {
  const a = server.address();
  process.stdout.write(`${typeof a === "object" && a !== null ? a.port : 0}\n`);
});
process.on("SIGTERM", () => {
  server.close();
  aedes.close(() => process.exit(0));
});
