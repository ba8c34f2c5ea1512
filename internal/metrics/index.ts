export { createMetrics, createEdgeMetrics, type Metrics, type EdgeMetrics, type ScrapeSources, type ReplicationSnapshot } from "./metrics.js";
