// proto3 JSON Duration ("1.5s", "0.250s", "10s") to milliseconds, validated for xDS updates.
import { ProxyConfigError } from './errors.js';

const DURATION_RE = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/;

/** Parses a proto3 JSON duration; throws ProxyConfigError naming `resource` and `field` when malformed. */
export function durationMs(value: unknown, resource: string, field: string): number {
  if (typeof value !== 'string') throw new ProxyConfigError(resource, field, `duration must be a string like "10s", got ${JSON.stringify(value)}`);
  const m = DURATION_RE.exec(value);
  if (!m) throw new ProxyConfigError(resource, field, `"${value}" is not a duration (expected e.g. "10s" or "0.250s")`);
  if (m[1]) throw new ProxyConfigError(resource, field, `"${value}" is negative`);
  const frac = m[3] ? Number(`0.${m[3]}`) : 0;
  return Math.round((Number(m[2]) + frac) * 1000);
}

/** The same, with a default when the field is absent. */
export function optionalDurationMs(value: unknown, dflt: number, resource: string, field: string): number {
  return value === undefined || value === null ? dflt : durationMs(value, resource, field);
}
