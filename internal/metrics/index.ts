export { createMetrics, type Metrics, type ScrapeSources } from "./metrics.js";
