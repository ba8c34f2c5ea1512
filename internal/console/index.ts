export { createConsoleServer, CONSOLE_CSP, type ConsoleServerOptions } from "./server.js";
