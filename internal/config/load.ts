import { readFileSync } from "node:fs";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { configSchema, type Config } from "./schema.js";
import { bootstrapSuccessBody, BOOTSTRAP_BODY_MAX, ConfigurationError } from "../domain/index.js";
import { KNOWN_REGIONS, parseCidr } from "../geo/index.js";

/** A configuration file or key that cannot be used; `key` names it ("" for the file as a whole). */
export class ConfigError extends ConfigurationError {
  override readonly name = "ConfigError";
}

export interface LoadedConfig {
  config: Config;
  /** True when no file was given: the embedded single-instance default. */
  embedded: boolean;
  /** The file read, if any. */
  source: string | undefined;
}

function keyOf(path: PropertyKey[]): string {
  return path.map((p) => (typeof p === "number" ? `[${p}]` : String(p))).join(".").replace(/\.\[/g, "[");
}

/** A key written with no value (`tls:` followed only by comments) means "not set". */
function dropNulls(v: unknown): unknown {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
  return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null).map(([k, x]) => [k, dropNulls(x)]));
}

/** Validates a parsed document; the error names the offending key. */
export function validateConfig(doc: unknown): Config {
  const parsed = configSchema.safeParse(dropNulls(doc ?? {}));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    if (issue.code === "unrecognized_keys") {
      const base = keyOf(issue.path);
      throw new ConfigError(base === "" ? issue.keys[0]! : `${base}.${issue.keys[0]!}`, "unknown key");
    }
    throw new ConfigError(keyOf(issue.path), issue.message);
  }
  const config = parsed.data;
  const seen = new Set<string>([config.instance.id]);
  config.peers.forEach((peer, i) => {
    if (seen.has(peer.id)) {
      throw new ConfigError(`peers[${i}].id`, peer.id === config.instance.id ? "is this daemon's own instance.id" : `${peer.id} is listed twice`);
    }
    seen.add(peer.id);
  });
  if (config.peers.length > 0 && config.peer.tls === undefined) {
    throw new ConfigError("peer.tls", "is required when peers are configured (the peer plane is mutual TLS only)");
  }
  const cidr = (key: string, text: string): void => {
    try {
      parseCidr(text);
    } catch (e) {
      throw new ConfigError(key, (e as Error).message);
    }
  };
  config.placement.trustedProxies.forEach((c, i) => cidr(`placement.trustedProxies[${i}]`, c));
  config.geo.overrides.forEach((o, i) => {
    cidr(`geo.overrides[${i}].cidr`, o.cidr);
    if (o.region !== undefined && config.geo.regions[o.region] === undefined && KNOWN_REGIONS[o.region] === undefined && o.region !== config.region.id) {
      throw new ConfigError(`geo.overrides[${i}].region`, `no coordinates are known for region ${o.region}: add it to geo.regions`);
    }
  });
  if ((config.region.latitude === undefined) !== (config.region.longitude === undefined)) {
    throw new ConfigError(config.region.latitude === undefined ? "region.latitude" : "region.longitude", "is required with the other coordinate");
  }
  if (config.mqtt.external.enabled && config.mqtt.external.tokenFile === undefined) {
    throw new ConfigError("mqtt.external.tokenFile", "is required when mqtt.external is enabled (the broker's calls must be authenticated)");
  }
  const body = bootstrapSuccessBody(config.instance.mqtt);
  if (body.length >= BOOTSTRAP_BODY_MAX) {
    throw new ConfigError("instance.mqtt.host", `makes the bootstrap reply ${body.length} bytes; devices read at most ${BOOTSTRAP_BODY_MAX - 1}`);
  }
  return config;
}

/** Where the embedded default serves the web console. */
export const EMBEDDED_CONSOLE = "127.0.0.1:8081";

/** The embedded default: a complete single instance on loopback, data in ./data. */
export function defaultConfig(): Config {
  return validateConfig({});
}

/**
 * Loads the configuration: from `path` (flag) or IOTFED_CONFIG, else the
 * embedded default.
 */
export function loadConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const source = path ?? (env.IOTFED_CONFIG || undefined);
  if (source === undefined) {
    const config = defaultConfig();
    config.listen.console = EMBEDDED_CONSOLE; // `npm start` shows the console
    return { config, embedded: true, source: undefined };
  }
  let text: string;
  try {
    text = readFileSync(source, "utf8");
  } catch (e) {
    throw new ConfigError("", `cannot read configuration file ${source}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    const msg = e instanceof YAMLParseError ? e.message.split("\n")[0]! : String(e);
    throw new ConfigError("", `${source} is not valid YAML: ${msg}`);
  }
  if (doc !== null && doc !== undefined && (typeof doc !== "object" || Array.isArray(doc))) {
    throw new ConfigError("", `${source} must hold a mapping at the top level`);
  }
  return { config: validateConfig(doc), embedded: false, source };
}
