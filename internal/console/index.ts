export { createConsoleServer, type ConsoleServerOptions } from "./server.js";
