// Filter-chain selection with Envoy's precedence (listener.v3.FilterChainMatch): destination port,
// destination IP (longest prefix), server name (exact, then the longest `*.` wildcard, then none),
// transport protocol, application protocols, direct source IP, source IP, source port. At each step the
// most specific candidates win and the rest are dropped for good — Envoy walks a tree and never backtracks,
// so a connection that matches a port-specific chain on port but fails its SNI gets no chain at all.
import type { FilterChainMatch } from '../envoy/envoy-types.js';
import { cidrContains, compileCidr, ipBytes, type CompiledCidr } from './matchers.js';
import { ProxyConfigError } from './errors.js';

export interface CompiledChainMatch {
  destinationPort: number;
  prefixRanges: CompiledCidr[];
  serverNames: string[];
  transportProtocol: string;
  applicationProtocols: string[];
  directSourcePrefixRanges: CompiledCidr[];
  sourcePrefixRanges: CompiledCidr[];
  sourcePorts: number[];
}

/** What the listener knows about a connection when it picks a chain. */
export interface ConnectionFacts {
  destinationIp: string;
  destinationPort: number;
  sourceIp: string;
  sourcePort: number;
  directSourceIp: string;
  serverName: string;
  transportProtocol: string; // 'tls' | 'raw_buffer'
  applicationProtocols: string[];
}

export function compileChainMatch(m: FilterChainMatch | undefined, resource: string, field: string): CompiledChainMatch {
  const mm = m ?? {};
  const cidrs = (rs: unknown, f: string): CompiledCidr[] => {
    if (rs === undefined) return [];
    if (!Array.isArray(rs)) throw new ProxyConfigError(resource, `${field}.${f}`, 'must be a list');
    return rs.map((r, i) => compileCidr(r as never, resource, `${field}.${f}[${i}]`));
  };
  const strings = (v: unknown, f: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
      throw new ProxyConfigError(resource, `${field}.${f}`, 'must be a list of strings');
    return v as string[];
  };
  const dp = mm.destinationPort ?? 0;
  if (!Number.isInteger(dp) || dp < 0 || dp > 65535)
    throw new ProxyConfigError(resource, `${field}.destinationPort`, `must be 1..65535, got ${String(dp)}`);
  const serverNames = strings(mm.serverNames, 'serverNames').map((s) => s.toLowerCase());
  serverNames.forEach((s, i) => {
    if (s.includes('*') && !(s.startsWith('*.') && !s.slice(2).includes('*'))) {
      throw new ProxyConfigError(resource, `${field}.serverNames[${i}]`, `"${s}": only a leading "*." wildcard is supported`);
    }
  });
  const tp = mm.transportProtocol ?? '';
  if (typeof tp !== 'string') throw new ProxyConfigError(resource, `${field}.transportProtocol`, 'must be a string');
  const sp = mm.sourcePorts ?? [];
  if (!Array.isArray(sp) || sp.some((p) => !Number.isInteger(p)))
    throw new ProxyConfigError(resource, `${field}.sourcePorts`, 'must be a list of ports');
  return {
    destinationPort: dp,
    prefixRanges: cidrs(mm.prefixRanges, 'prefixRanges'),
    serverNames,
    transportProtocol: tp,
    applicationProtocols: strings(mm.applicationProtocols, 'applicationProtocols'),
    directSourcePrefixRanges: cidrs(mm.directSourcePrefixRanges, 'directSourcePrefixRanges'),
    sourcePrefixRanges: cidrs(mm.sourcePrefixRanges, 'sourcePrefixRanges'),
    sourcePorts: sp,
  };
}

/** Two chains with identical match criteria make the listener ambiguous; Envoy rejects that. */
export function chainMatchKey(m: CompiledChainMatch): string {
  const c = (rs: CompiledCidr[]): string =>
    rs
      .map((r) => `${r.bytes.toString('hex')}/${r.prefixLen}`)
      .sort()
      .join(',');
  return JSON.stringify([
    m.destinationPort,
    c(m.prefixRanges),
    [...m.serverNames].sort(),
    m.transportProtocol,
    [...m.applicationProtocols].sort(),
    c(m.directSourcePrefixRanges),
    c(m.sourcePrefixRanges),
    [...m.sourcePorts].sort(),
  ]);
}

// Specificity of one criterion for one chain: -1 excludes the chain, 0 is "criterion not set", higher wins.
type Scorer<T> = (m: CompiledChainMatch, f: ConnectionFacts, ctx: T) => number;

function longestPrefix(ranges: CompiledCidr[], ip: Buffer | undefined): number {
  if (ranges.length === 0) return 0;
  let best = -1;
  for (const r of ranges) if (cidrContains(r, ip) && r.prefixLen + 1 > best) best = r.prefixLen + 1;
  return best;
}

function serverNameScore(m: CompiledChainMatch, f: ConnectionFacts): number {
  if (m.serverNames.length === 0) return 0;
  const sni = f.serverName;
  if (sni === '') return -1;
  let best = -1;
  for (const n of m.serverNames) {
    if (n === sni) return 1_000_000;
    if (n.startsWith('*.') && sni.endsWith(n.slice(1)) && sni.length > n.length - 1) best = Math.max(best, n.length);
  }
  return best;
}

interface Ips {
  dst: Buffer | undefined;
  src: Buffer | undefined;
  direct: Buffer | undefined;
}

const steps: Scorer<Ips>[] = [
  (m, f) => (m.destinationPort === 0 ? 0 : m.destinationPort === f.destinationPort ? 1 : -1),
  (m, _f, ips) => longestPrefix(m.prefixRanges, ips.dst),
  serverNameScore,
  (m, f) => (m.transportProtocol === '' ? 0 : m.transportProtocol === f.transportProtocol ? 1 : -1),
  (m, f) => (m.applicationProtocols.length === 0 ? 0 : m.applicationProtocols.some((p) => f.applicationProtocols.includes(p)) ? 1 : -1),
  (m, _f, ips) => longestPrefix(m.directSourcePrefixRanges, ips.direct),
  (m, _f, ips) => longestPrefix(m.sourcePrefixRanges, ips.src),
  (m, f) => (m.sourcePorts.length === 0 ? 0 : m.sourcePorts.includes(f.sourcePort) ? 1 : -1),
];

const NO_IPS: Ips = { dst: undefined, src: undefined, direct: undefined };
const rangeUse = new WeakMap<readonly CompiledChainMatch[], boolean>();

/** Whether any chain matches on an address range (decided once per compiled chain list). */
function usesPrefixRanges(chains: readonly CompiledChainMatch[]): boolean {
  let u = rangeUse.get(chains);
  if (u === undefined) {
    u = chains.some((c) => c.prefixRanges.length > 0 || c.sourcePrefixRanges.length > 0 || c.directSourcePrefixRanges.length > 0);
    rangeUse.set(chains, u);
  }
  return u;
}

/** Index of the selected chain, or -1 when none matches (the listener then uses its default chain or closes). */
export function selectFilterChain(chains: readonly CompiledChainMatch[], f: ConnectionFacts): number {
  let cand: number[] = [];
  for (let i = 0; i < chains.length; i++) cand.push(i);
  // Parsing three addresses into bytes is most of the work per connection; only prefix ranges need it.
  const ips: Ips = usesPrefixRanges(chains)
    ? { dst: ipBytes(f.destinationIp), src: ipBytes(f.sourceIp), direct: ipBytes(f.directSourceIp) }
    : NO_IPS;
  for (const score of steps) {
    let best = -1;
    const scores = cand.map((i) => score(chains[i]!, f, ips));
    for (const s of scores) if (s > best) best = s;
    if (best < 0) return -1;
    cand = cand.filter((_, k) => scores[k] === best);
  }
  return cand[0] ?? -1;
}

/** Whether any chain asks for a property only tls_inspector can supply. */
export function needsTlsInspection(chains: readonly CompiledChainMatch[]): boolean {
  return chains.some((c) => c.serverNames.length > 0 || c.transportProtocol !== '' || c.applicationProtocols.length > 0);
}
