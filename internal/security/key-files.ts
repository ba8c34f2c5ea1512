import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { randomBytes } from "node:crypto";
import { ConfigurationError, newTokenSecret } from "../domain/index.js";
import { parseSealKey } from "./sealer.js";

/** A key or token file that is missing, unreadable or malformed; `key` is its configuration key. */
export class KeyMaterialError extends ConfigurationError {
  override readonly name = "KeyMaterialError";
}

export interface KeySource {
  /** Config key naming the file, for error messages. */
  key: string;
  file: string | undefined;
  envName: string;
  env: NodeJS.ProcessEnv;
  /** Where the embedded default keeps a generated value; undefined outside it. */
  generateAt: string | undefined;
}

function readSecretFile(key: string, file: string): string {
  try {
    const text = readFileSync(file, "utf8").trim();
    if (text.length === 0) throw new KeyMaterialError(key, `${file} is empty`);
    return text;
  } catch (e) {
    if (e instanceof KeyMaterialError) throw e;
    throw new KeyMaterialError(key, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

function writeSecretFile(file: string, value: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, value + "\n", { mode: 0o600, flag: "wx" });
  chmodSync(file, 0o600);
}

function resolve(src: KeySource, generate: () => string): { value: string; generated: boolean } {
  const fromEnv = src.env[src.envName];
  if (fromEnv !== undefined && fromEnv.length > 0) return { value: fromEnv.trim(), generated: false };
  if (src.file !== undefined) return { value: readSecretFile(src.key, src.file), generated: false };
  if (src.generateAt !== undefined) {
    if (existsSync(src.generateAt)) return { value: readSecretFile(src.key, src.generateAt), generated: false };
    const value = generate();
    writeSecretFile(src.generateAt, value);
    return { value, generated: true };
  }
  throw new KeyMaterialError(src.key, `is required outside the embedded default (or set ${src.envName})`);
}

/** The secret-sealing key: env, file, or (embedded default only) generated once. */
export function loadSealKey(src: KeySource): { key: Buffer; generated: boolean } {
  const { value, generated } = resolve(src, () => randomBytes(32).toString("base64"));
  try {
    return { key: parseSealKey(value), generated };
  } catch (e) {
    throw new KeyMaterialError(src.key, (e as Error).message);
  }
}

/** The operator token: env, file, or (embedded default only) generated once. */
export function loadOperatorToken(src: KeySource): { token: string; generated: boolean } {
  const { value, generated } = resolve(src, newTokenSecret);
  if (value.length < 16) throw new KeyMaterialError(src.key, "the operator token must be at least 16 characters");
  return { token: value, generated };
}
