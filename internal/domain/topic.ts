import { InvalidArgumentError } from "./errors.js";
import type { TopicOperation } from "./entities.js";

const LEVEL_RE = /^[A-Za-z0-9_]{1,30}$/;
export const TOPIC_SHORT_NAME_MAX = 64;

/**
 * Checks a topic class short name: levels of [A-Za-z0-9_] separated by `/`;
 * the wildcards `+` (any level) and `#` (last level) only on topics devices
 * subscribe to.
 */
export function checkTopicShortName(shortName: string, op: TopicOperation, field = "topic_short_name"): string {
  if (shortName.length === 0) throw new InvalidArgumentError(field, "is required");
  if (shortName.length > TOPIC_SHORT_NAME_MAX) {
    throw new InvalidArgumentError(field, `must be at most ${TOPIC_SHORT_NAME_MAX} characters`);
  }
  const levels = shortName.split("/");
  levels.forEach((level, i) => {
    if (level === "+" || (level === "#" && i === levels.length - 1)) {
      if (op !== "sub") throw new InvalidArgumentError(field, "wildcards + and # are allowed only with operation sub");
      return;
    }
    if (!LEVEL_RE.test(level)) {
      throw new InvalidArgumentError(
        field,
        `level ${i + 1} ("${level.slice(0, 40)}") must be 1-30 characters of letters, digits and _, or a wildcard`,
      );
    }
  });
  return shortName;
}

/** The full template devices see, e.g. `/${productKey}/${deviceName}/user/update`. */
export function topicTemplate(productKey: string, shortName: string): string {
  return `/${productKey}/\${deviceName}/user/${shortName}`;
}
