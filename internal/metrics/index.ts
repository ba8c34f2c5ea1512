export { createMetrics, type Metrics, type ScrapeSources, type ReplicationSnapshot } from "./metrics.js";
