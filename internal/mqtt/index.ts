export { createEmbeddedBroker, type EmbeddedBroker, type BrokerOptions } from "./broker.js";
export type { DeviceAuth, SignedInDevice, SignInResult } from "./device-auth.js";
export { topicMatches } from "./topics.js";
export { createExternalBroker, type ExternalBroker, type ExternalBrokerOptions } from "./external.js";
