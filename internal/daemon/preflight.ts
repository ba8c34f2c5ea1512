import type { LoadedConfig } from "../config/index.js";
import { ConfigurationError } from "../domain/index.js";
import { checkPrivateFile } from "./files.js";
import { splitHostPort } from "./listen.js";

type Config = LoadedConfig["config"];

const isLoopback = (host: string): boolean => host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);

/**
 * Safe defaults, checked before anything starts (docs/operating/security.md
 * "Files" and "Planes"); each failure is a configuration error (exit 2):
 * - the admin listener off loopback without TLS would carry the operator
 *   token in clear: refused unless `security.allowPlaintextAdmin` says a
 *   TLS-terminating proxy stands in front of it;
 * - key and secret files that others may read are refused, as ssh does.
 */
export function preflight(config: Config, env: NodeJS.ProcessEnv): void {
  const admin = splitHostPort(config.listen.admin).host;
  if (!isLoopback(admin) && config.tls.admin === undefined && !config.security.allowPlaintextAdmin) {
    throw new ConfigurationError(
      "listen.admin",
      `${config.listen.admin} is not a loopback address and tls.admin is not set: the operator token would cross the network in clear. Set tls.admin, or security.allowPlaintextAdmin: true if a TLS proxy terminates in front of it`,
    );
  }
  const consoleHost = config.listen.console === undefined ? undefined : splitHostPort(config.listen.console).host;
  if (consoleHost !== undefined && !isLoopback(consoleHost) && config.tls.console === undefined && !config.security.allowPlaintextAdmin) {
    throw new ConfigurationError(
      "listen.console",
      `${config.listen.console!} is not a loopback address and tls.console is not set: operators' tokens would cross the network in clear. Set tls.console, or security.allowPlaintextAdmin: true if a TLS proxy terminates in front of it`,
    );
  }
  if (config.security.sealKeyFile !== undefined && env.IOTFED_SEAL_KEY === undefined) checkPrivateFile(config.security.sealKeyFile, "security.sealKeyFile");
  if (config.security.operatorTokenFile !== undefined && env.IOTFED_OPERATOR_TOKEN === undefined) checkPrivateFile(config.security.operatorTokenFile, "security.operatorTokenFile");
  if (config.peer.tls !== undefined) checkPrivateFile(config.peer.tls.keyFile, "peer.tls.keyFile");
  if (config.replication?.keyFile !== undefined) checkPrivateFile(config.replication.keyFile, "replication.keyFile");
  if (config.replication?.credsFile !== undefined) checkPrivateFile(config.replication.credsFile, "replication.credsFile");
}
