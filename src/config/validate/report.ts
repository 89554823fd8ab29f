// What every per-kind semantic check shares: how to report (Istio's validation errors are IST0106
// Errors, its validation warnings IST0133 Warnings, as `istioctl analyze`'s schema analyzer reports
// them) and the small grammars Istio's validation uses (DNS-1123 labels, FQDNs, IPs, CIDRs).
import type { Diagnostic } from '../diagnostics.js';
import { DiagnosticCodes } from '../diagnostics.js';

export type Seg = string | number;
export type Report = (level: Diagnostic['level'], code: string, path: readonly Seg[], message: string, key?: boolean) => void;

/** Reports an Istio validation error (IST0106) or warning (IST0133) at `path`. */
export interface Checker {
  error(path: readonly Seg[], message: string, key?: boolean): void;
  warn(path: readonly Seg[], message: string, key?: boolean): void;
}

export function checker(report: Report): Checker {
  return {
    error: (path, message, key) => report('Error', DiagnosticCodes.SchemaValidationError, path, message, key),
    warn: (path, message, key) => report('Warning', DiagnosticCodes.SchemaWarning, path, message, key),
  };
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Kubernetes' IsDNS1123Label, which Istio uses for port names, subset names and gateway names. */
export function isDns1123Label(s: string): boolean {
  return DNS1123_LABEL.test(s);
}

export function isIpAddress(s: string): boolean {
  if (/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(s)) return s.split('.').every((x) => Number(x) <= 255);
  return s.includes(':') && /^[0-9a-fA-F:.]+$/.test(s) && (s.match(/::/g) ?? []).length <= 1;
}

/** Istio's agent.ValidateIPSubnet: an IP address or a CIDR block. */
export function ipSubnetProblem(s: string): string | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return isIpAddress(s) ? undefined : `${s} is not a valid IP`;
  const ip = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  const max = ip.includes(':') ? 128 : 32;
  if (!isIpAddress(ip) || !/^\d+$/.test(bits) || Number(bits) > max) return `invalid CIDR address: ${s}`;
  return undefined;
}

/** Istio's agent.ValidateFQDN: DNS-1123 labels, at most 255 characters, a trailing dot allowed. */
export function fqdnProblem(fqdn: string): string | undefined {
  const name = fqdn.endsWith('.') ? fqdn.slice(0, -1) : fqdn;
  if (name.length === 0) return 'domain name cannot be empty';
  if (name.length > 255) return `domain name ${JSON.stringify(name)} too long (max 255)`;
  for (const label of name.split('.')) {
    if (!/^[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$/.test(label))
      return `domain name ${JSON.stringify(name)} invalid (label ${JSON.stringify(label)} invalid)`;
  }
  return undefined;
}

/** Istio's WorkloadSelector checks shared by the security kinds and DestinationRule. */
export function checkWorkloadSelector(
  c: Checker,
  matchLabels: Record<string, string> | undefined,
  path: readonly Seg[],
  present: boolean,
): void {
  if (!present) return;
  const labels = matchLabels ?? {};
  for (const [k, v] of Object.entries(labels)) {
    if (k === '') c.error([...path, 'matchLabels'], `empty key is not supported in selector: "=${v}"`);
    if (k.includes('*') || v.includes('*')) c.error([...path, 'matchLabels', k], `wildcard is not supported in selector: "${k}=${v}"`);
  }
  if (Object.keys(labels).length === 0) c.warn(path, 'workload selector specified without labels');
}
