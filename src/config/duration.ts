// protobuf Duration as Istio's YAML writes it: a decimal number of seconds with an `s` suffix in the
// canonical JSON form (`10s`, `1.5s`), and Go-style units that Istio's docs and users also write
// (`500ms`, `1h`, `1m30s`). Istio's validation rejects negative durations; so do we.

export class DurationError extends Error {
  readonly code = 'E_CONFIG_DURATION';
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;

/** Parses `10s`, `500ms`, `1h`, `1.5s`, `1m30s` to milliseconds; throws DurationError otherwise. */
export function parseDuration(s: string): number {
  if (typeof s !== 'string' || s.length === 0 || s.length > 64) throw new DurationError(`invalid duration ${JSON.stringify(s)}: expected a value like "10s", "500ms" or "1h"`);
  if (s === '0') return 0;
  let total = 0;
  PART.lastIndex = 0;
  let pos = 0;
  while (pos < s.length) {
    PART.lastIndex = pos;
    const m = PART.exec(s);
    if (!m) throw new DurationError(`invalid duration ${JSON.stringify(s)}: expected a value like "10s", "500ms" or "1h"`);
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    pos = PART.lastIndex;
  }
  if (!Number.isFinite(total)) throw new DurationError(`invalid duration ${JSON.stringify(s)}: out of range`);
  return total;
}

export function isDuration(s: string): boolean {
  try {
    parseDuration(s);
    return true;
  } catch {
    // parseDuration only throws DurationError; false is the answer, not a failure.
    return false;
  }
}
