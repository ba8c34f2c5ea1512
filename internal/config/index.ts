export type { Config } from "./schema.js";
export { loadConfig, defaultConfig, validateConfig, ConfigError, type LoadedConfig } from "./load.js";
export { configReference, type ConfigKey } from "./reference.js";
