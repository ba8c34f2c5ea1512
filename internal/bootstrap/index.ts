export { createBootstrapServer, type BootstrapServerOptions } from "./server.js";
export { parseBootstrapForm, FormError, FIELD_MAX, type BootstrapForm } from "./form.js";
export { REPLY, errorReply } from "./envelope.js";
export { createEdgeLimiter, limitKey, type EdgeLimiter, type EdgeLimits } from "./limits.js";
export { createNearestResolver, type NearestResolver, type NearestOptions } from "./nearest.js";
