// Durations from Istio's YAML (`10s`, `500ms`, `1m`) to proto3 canonical JSON (`10s`, `0.500s`, `60s`),
// through the one parser every layer shares.
import { formatProto3Duration, msToNs, parseDurationMs, parseDurationNs } from '../shared/duration.js';
import type { Duration } from '../envoy/envoy-types.js';

/** proto3 JSON for a number of milliseconds: whole seconds plain, otherwise 3, 6 or 9 fractional digits. */
export function msToProtoDuration(ms: number): Duration {
  return formatProto3Duration(msToNs(ms));
}

export function toProtoDuration(istio: string): Duration {
  return formatProto3Duration(parseDurationNs(istio, 'istio'));
}

/** Whole seconds (rounded down, at least 1) for Envoy fields counted in seconds, such as TCP keepalive. */
export function toSeconds(istio: string): number {
  return Math.max(1, Math.floor(parseDurationMs(istio, 'istio') / 1000));
}
