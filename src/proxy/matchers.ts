// Envoy's StringMatcher, CIDR ranges and SAN matchers (envoy.type.matcher.v3, config.core.v3.CidrRange),
// compiled once per config update so the per-connection check is a few comparisons.
import net from 'node:net';
import type { CidrRange, StringMatcher, SubjectAltNameMatcher } from '../envoy/envoy-types.js';
import { ProxyConfigError } from './errors.js';

export type CompiledStringMatcher = (s: string) => boolean;

export function compileStringMatcher(m: StringMatcher, resource: string, field: string): CompiledStringMatcher {
  if (!m || typeof m !== 'object') throw new ProxyConfigError(resource, field, 'string matcher must be an object');
  const ic = m.ignoreCase === true;
  const norm = (s: string): string => (ic ? s.toLowerCase() : s);
  if (typeof m.exact === 'string') {
    const v = norm(m.exact);
    return (s) => norm(s) === v;
  }
  if (typeof m.prefix === 'string') {
    const v = norm(m.prefix);
    return (s) => norm(s).startsWith(v);
  }
  if (typeof m.suffix === 'string') {
    const v = norm(m.suffix);
    return (s) => norm(s).endsWith(v);
  }
  if (typeof m.contains === 'string') {
    const v = norm(m.contains);
    return (s) => norm(s).includes(v);
  }
  if (m.safeRegex && typeof m.safeRegex.regex === 'string') {
    let re: RegExp;
    try {
      // Envoy's RE2 matches the whole string.
      re = new RegExp(`^(?:${m.safeRegex.regex})$`, ic ? 'i' : '');
    } catch (err) {
      throw new ProxyConfigError(resource, `${field}.safeRegex.regex`, `invalid regular expression: ${(err as Error).message}`);
    }
    return (s) => re.test(s);
  }
  throw new ProxyConfigError(resource, field, 'string matcher needs one of exact, prefix, suffix, contains, safeRegex');
}

/** A CIDR range compiled to a family and a bit test. */
export interface CompiledCidr {
  family: 4 | 6;
  prefixLen: number;
  bytes: Buffer;
}

export function ipBytes(address: string): Buffer | undefined {
  let a = address;
  if (a.startsWith('::ffff:') && net.isIPv4(a.slice(7))) a = a.slice(7);
  if (net.isIPv4(a)) return Buffer.from(a.split('.').map(Number));
  if (!net.isIPv6(a)) return undefined;
  const sl = new net.SocketAddress({ address: a, family: 'ipv6' });
  // Expand "::" by hand: SocketAddress does not expose the bytes.
  const [head, tail] = sl.address.includes('::') ? (sl.address.split('::') as [string, string]) : [sl.address, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16) || 0, i * 2));
  return out;
}

export function compileCidr(r: CidrRange, resource: string, field: string): CompiledCidr {
  if (!r || typeof r.addressPrefix !== 'string') throw new ProxyConfigError(resource, `${field}.addressPrefix`, 'must be an IP address');
  const bytes = ipBytes(r.addressPrefix);
  if (!bytes) throw new ProxyConfigError(resource, `${field}.addressPrefix`, `"${r.addressPrefix}" is not an IP address`);
  const family = bytes.length === 4 ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  const prefixLen = r.prefixLen ?? 0;
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > max)
    throw new ProxyConfigError(resource, `${field}.prefixLen`, `must be 0..${max}, got ${String(r.prefixLen)}`);
  return { family, prefixLen, bytes };
}

export function cidrContains(c: CompiledCidr, ip: Buffer | undefined): boolean {
  if (!ip || ip.length !== c.bytes.length) return false;
  let bits = c.prefixLen;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((ip[i]! & mask) !== (c.bytes[i]! & mask)) return false;
  }
  return true;
}

/** The SANs of a peer certificate, from Node's `subjectaltname` string ("URI:spiffe://a, DNS:b"). */
export interface PeerSans {
  uri: string[];
  dns: string[];
  email: string[];
  ip: string[];
}

export function parseSubjectAltName(s: string | undefined): PeerSans {
  const out: PeerSans = { uri: [], dns: [], email: [], ip: [] };
  if (!s) return out;
  for (const part of s.split(', ')) {
    const i = part.indexOf(':');
    if (i < 0) continue;
    const kind = part.slice(0, i);
    let v = part.slice(i + 1);
    if (v.startsWith('"') && v.endsWith('"')) v = JSON.parse(v) as string;
    if (kind === 'URI') out.uri.push(v);
    else if (kind === 'DNS') out.dns.push(v);
    else if (kind === 'email') out.email.push(v);
    else if (kind === 'IP Address') out.ip.push(v);
  }
  return out;
}

export interface CompiledSanMatcher {
  kind: keyof PeerSans;
  match: CompiledStringMatcher;
  describe: string;
}

export function compileSanMatchers(ms: SubjectAltNameMatcher[] | undefined, resource: string, field: string): CompiledSanMatcher[] {
  if (ms === undefined) return [];
  if (!Array.isArray(ms)) throw new ProxyConfigError(resource, field, 'must be a list');
  return ms.map((m, i) => {
    const f = `${field}[${i}]`;
    const kinds: Record<string, keyof PeerSans> = { URI: 'uri', DNS: 'dns', EMAIL: 'email', IP_ADDRESS: 'ip' };
    const kind = kinds[m?.sanType];
    if (!kind)
      throw new ProxyConfigError(resource, `${f}.sanType`, `must be one of URI, DNS, EMAIL, IP_ADDRESS, got ${JSON.stringify(m?.sanType)}`);
    const match = compileStringMatcher(m.matcher, resource, `${f}.matcher`);
    const desc = m.matcher.exact ?? m.matcher.prefix ?? m.matcher.suffix ?? m.matcher.contains ?? m.matcher.safeRegex?.regex ?? '';
    return { kind, match, describe: `${m.sanType}:${desc}` };
  });
}

/**
 * Envoy's match_typed_subject_alt_names: the certificate is accepted when any matcher matches any SAN of
 * its type (DNS matchers also accept a `*.` wildcard SAN for one label). Returns undefined on success,
 * else the reason for the access log.
 */
export function checkSans(matchers: CompiledSanMatcher[], sans: PeerSans): string | undefined {
  if (matchers.length === 0) return undefined;
  for (const m of matchers) {
    for (const v of sans[m.kind]) if (m.match(v)) return undefined;
  }
  const got = [...sans.uri, ...sans.dns].join(',') || 'no URI or DNS SAN';
  return `SAN mismatch: got ${got}, want ${matchers.map((m) => m.describe).join(' or ')}`;
}

/** The principal Envoy's RBAC and Istio's telemetry use: the first URI SAN, else the first DNS SAN. */
export function principalOf(sans: PeerSans, subjectCn?: string): string {
  return sans.uri[0] ?? sans.dns[0] ?? subjectCn ?? '';
}
