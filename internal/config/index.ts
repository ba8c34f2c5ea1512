export type { Config } from "./schema.js";
export { loadConfig, defaultConfig, validateConfig, ConfigError, EMBEDDED_CONSOLE, type LoadedConfig } from "./load.js";
export { configReference, type ConfigKey } from "./reference.js";
