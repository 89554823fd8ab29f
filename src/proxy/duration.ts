// proto3 JSON Duration ("1.5s", "0.250s", "10s") to milliseconds, validated for xDS updates through the
// one parser every layer shares; a malformed value names the resource and field (the agent NACKs it).
import { DurationError, parseDurationNs } from '../shared/duration.js';
import { ProxyConfigError } from './errors.js';

/** Parses a proto3 JSON duration; throws ProxyConfigError naming `resource` and `field` when malformed. */
export function durationMs(value: unknown, resource: string, field: string): number {
  if (typeof value !== 'string')
    throw new ProxyConfigError(resource, field, `duration must be a string like "10s", got ${JSON.stringify(value)}`);
  let ns: bigint;
  try {
    ns = parseDurationNs(value, 'proto3');
  } catch (err) {
    if (!(err instanceof DurationError)) throw err;
    throw new ProxyConfigError(
      resource,
      field,
      `"${value}" is not a duration (expected e.g. "10s" or "0.250s")${err.reason === 'range' ? ': out of range' : ''}`,
    );
  }
  if (ns < 0n) throw new ProxyConfigError(resource, field, `"${value}" is negative`);
  return Math.round(Number(ns) / 1e6);
}

/** The same, with a default when the field is absent. */
export function optionalDurationMs(value: unknown, dflt: number, resource: string, field: string): number {
  return value === undefined || value === null ? dflt : durationMs(value, resource, field);
}
