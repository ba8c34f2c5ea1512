export { createBootstrapServer, type BootstrapServerOptions } from "./server.js";
export { parseBootstrapForm, FormError, type BootstrapForm } from "./form.js";
export { createEdgeLimiter, limitKey, type EdgeLimiter, type EdgeLimits } from "./limits.js";
export { createNearestResolver, type NearestResolver, type NearestOptions } from "./nearest.js";
export { createHttp1Server, type EdgeRequest, type EdgeServer, type Http1Options, type Respond } from "./http1.js";
export { createDeviceEdge, type DeviceEdgeLimits, type DeviceEdgeOptions } from "./edge.js";
