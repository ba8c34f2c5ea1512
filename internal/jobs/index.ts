export { createJobWorker, type JobWorker, type JobWorkerOptions } from "./worker.js";
export { parseDeviceList, toCsv, CsvError, DEVICE_LIST_TEMPLATE } from "./csv.js";
export { createPlacement, type Placement, type PlacementOptions } from "./placement.js";
export { createJobEvents, jobEventsDue, jobEventBody, webhookSignature, type JobEventType } from "./job-events.js";
