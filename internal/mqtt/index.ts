export { createEmbeddedBroker, notifyTopic, topicMatches, type EmbeddedBroker, type BrokerOptions } from "./broker.js";
