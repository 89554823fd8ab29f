// Durations from Istio's YAML (`10s`, `500ms`, `1m`) to proto3 canonical JSON (`10s`, `0.500s`, `60s`).
import { parseDuration } from '../config/duration.js';
import type { Duration } from '../xds/envoy-types.js';

/** proto3 JSON for a number of milliseconds: whole seconds plain, otherwise 3, 6 or 9 fractional digits. */
export function msToProtoDuration(ms: number): Duration {
  const nanos = Math.round(ms * 1e6);
  const secs = Math.floor(nanos / 1e9);
  const frac = nanos % 1e9;
  if (frac === 0) return `${secs}s`;
  let digits = String(frac).padStart(9, '0');
  if (digits.endsWith('000000')) digits = digits.slice(0, 3);
  else if (digits.endsWith('000')) digits = digits.slice(0, 6);
  return `${secs}.${digits}s`;
}

export function toProtoDuration(istio: string): Duration {
  return msToProtoDuration(parseDuration(istio));
}

/** Whole seconds (rounded down, at least 1) for Envoy fields counted in seconds, such as TCP keepalive. */
export function toSeconds(istio: string): number {
  return Math.max(1, Math.floor(parseDuration(istio) / 1000));
}
