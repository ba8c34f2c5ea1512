export { createThingRuntime, type ThingRuntime, type ThingRuntimeOptions, type ThingTransport, type ThingData } from "./runtime.js";
export { parseThingTopic, type AlinkReply } from "./alink.js";
