export { createEmbeddedBroker, type EmbeddedBroker, type BrokerOptions } from "./broker.js";
export { createDeviceAuth, type DeviceAuth, type SignedInDevice, type SignInResult } from "./device-auth.js";
export { notifyTopic, notifyPayload, topicMatches } from "./topics.js";
export { createExternalBroker, type ExternalBroker, type ExternalBrokerOptions } from "./external.js";
