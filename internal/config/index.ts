export { configSchema, type Config } from "./schema.js";
export { loadConfig, defaultConfig, validateConfig, ConfigError, type LoadedConfig } from "./load.js";
