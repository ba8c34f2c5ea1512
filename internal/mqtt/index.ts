export { createEmbeddedBroker, type EmbeddedBroker, type BrokerOptions, type DeviceMessages } from "./broker.js";
export { createDeviceAuth, type DeviceAuth, type SignedInDevice, type SignInResult } from "./device-auth.js";
export { topicMatches } from "./topics.js";
export { createExternalBroker, type ExternalBroker, type ExternalBrokerOptions } from "./external.js";
