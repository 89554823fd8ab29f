// Durations in Istio's YAML (`10s`, `1.5s`, `500ms`, `1m30s`), read by the one parser every layer shares;
// this adapter gives config's callers milliseconds and config's error code.
import { DurationError as SharedDurationError, parseDurationMs } from '../shared/duration.js';

export class DurationError extends Error {
  readonly code = 'E_CONFIG_DURATION';
}

/** Parses `10s`, `500ms`, `1h`, `1.5s`, `1m30s` to milliseconds; throws DurationError otherwise. */
export function parseDuration(s: string): number {
  try {
    return parseDurationMs(s, 'istio');
  } catch (err) {
    if (err instanceof SharedDurationError) throw new DurationError(err.message);
    throw err;
  }
}

export function isDuration(s: string): boolean {
  try {
    parseDurationMs(s, 'istio');
    return true;
  } catch {
    // parseDurationMs throws only its DurationError; false is the answer, not a failure.
    return false;
  }
}
