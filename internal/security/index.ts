export { createSealer, parseSealKey, SealError, type Sealer } from "./sealer.js";
export { hashToken, tokenMatches, bearerToken } from "./tokens.js";
export { loadSealKey, loadOperatorToken, KeyMaterialError, type KeySource } from "./key-files.js";
