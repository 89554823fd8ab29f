// istio-iptables' rule set, generated as a pure function of the capture settings. The rules, their
// order and the chain names (ISTIO_INBOUND, ISTIO_REDIRECT, ISTIO_IN_REDIRECT, ISTIO_OUTPUT,
// ISTIO_OUTPUT_DNS) follow Istio's tools/istio-iptables (REDIRECT mode), so `iptables-save` in a
// meshgate pod reads like one in an Istio pod and Istio's troubleshooting advice applies unchanged.
import net from 'node:net';
import { CaptureError } from './errors.js';

export const ISTIO_INBOUND = 'ISTIO_INBOUND';
export const ISTIO_REDIRECT = 'ISTIO_REDIRECT';
export const ISTIO_IN_REDIRECT = 'ISTIO_IN_REDIRECT';
export const ISTIO_OUTPUT = 'ISTIO_OUTPUT';
export const ISTIO_OUTPUT_DNS = 'ISTIO_OUTPUT_DNS';

/** The chains this module may create; cleanup removes only these. */
export const CAPTURE_CHAINS: readonly string[] = [ISTIO_INBOUND, ISTIO_REDIRECT, ISTIO_IN_REDIRECT, ISTIO_OUTPUT, ISTIO_OUTPUT_DNS];

const BUILTIN_CHAINS = new Set(['INPUT', 'OUTPUT', 'FORWARD', 'PREROUTING', 'POSTROUTING']);

/** Ports of the sidecar itself that inbound capture never redirects (Istio's injector passes 15090,15021,15020). */
export const PROXY_ADMIN_PORTS: readonly number[] = [15000, 15020, 15021, 15090];

export interface CaptureConfig {
  /** Users whose traffic is the proxy's own and is never captured (istio-iptables -u). */
  proxyUid: string[];
  /** Groups whose traffic is the proxy's own (istio-iptables -g). */
  proxyGid: string[];
  /** The virtual outbound listener (istio-iptables -p). */
  outboundPort: number;
  /** The virtual inbound listener (istio-iptables -z). */
  inboundPort: number;
  /** The HBONE tunnel port Istio always lets through (15008). */
  inboundTunnelPort: number;
  /** Inbound ports to capture: '*' for all, a list, or [] for none (istio-iptables -b). */
  inboundPorts: '*' | number[];
  /** Inbound ports never captured when inboundPorts is '*' (istio-iptables -d); the admin ports are always added. */
  excludeInboundPorts: number[];
  /** Outbound ports always captured, whatever the destination (istio-iptables -q). */
  includeOutboundPorts: number[];
  /** Outbound ports never captured, TCP and UDP (istio-iptables -o). */
  excludeOutboundPorts: number[];
  /** Destination CIDRs captured: '*' for all (istio-iptables -i). */
  includeOutboundIpRanges: '*' | string[];
  /** Destination CIDRs never captured (istio-iptables -x). */
  excludeOutboundIpRanges: string[];
  /** Capture DNS (UDP and TCP 53) to the DNS proxy (ISTIO_META_DNS_CAPTURE). */
  dns: boolean;
  /** DNS servers whose traffic is captured; empty with dns=true captures DNS to any server (istio-cni's CAPTURE_ALL_DNS). */
  dnsServers: string[];
  /** The DNS proxy's port (Istio: 15053, fixed). */
  dnsPort: number;
  /** Also generate the ip6tables rule set. */
  ipv6: boolean;
  /** Loopback destination traffic is never captured (ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR). */
  hostIPv4LoopbackCidr: string;
}

export const DEFAULT_CAPTURE_CONFIG: Readonly<CaptureConfig> = Object.freeze({
  proxyUid: ['1337'],
  proxyGid: ['1337'],
  outboundPort: 15001,
  inboundPort: 15006,
  inboundTunnelPort: 15008,
  inboundPorts: '*',
  excludeInboundPorts: [],
  includeOutboundPorts: [],
  excludeOutboundPorts: [],
  includeOutboundIpRanges: '*',
  excludeOutboundIpRanges: [],
  dns: false,
  dnsServers: [],
  dnsPort: 15053,
  ipv6: false,
  hostIPv4LoopbackCidr: '127.0.0.1/32',
}) as Readonly<CaptureConfig>;

export type IptablesTable = 'nat' | 'raw' | 'mangle' | 'filter';

export interface IptablesRule {
  table: IptablesTable;
  chain: string;
  /** Match and target, e.g. ['-p', 'tcp', '-j', 'REDIRECT', '--to-ports', '15001']. */
  params: string[];
}

export interface CaptureRuleSet {
  v4: IptablesRule[];
  /** Empty unless ipv6 is set. */
  v6: IptablesRule[];
}

/** Merges partial settings over the defaults and validates ports, ids and CIDRs. */
export function resolveCaptureConfig(partial: Partial<CaptureConfig> = {}): CaptureConfig {
  const cfg: CaptureConfig = { ...DEFAULT_CAPTURE_CONFIG, ...stripUndefined(partial) };
  for (const [name, port] of [
    ['outboundPort', cfg.outboundPort],
    ['inboundPort', cfg.inboundPort],
    ['inboundTunnelPort', cfg.inboundTunnelPort],
    ['dnsPort', cfg.dnsPort],
  ] as const) {
    checkPort(name, port);
  }
  for (const [name, list] of [
    ['inboundPorts', cfg.inboundPorts === '*' ? [] : cfg.inboundPorts],
    ['excludeInboundPorts', cfg.excludeInboundPorts],
    ['includeOutboundPorts', cfg.includeOutboundPorts],
    ['excludeOutboundPorts', cfg.excludeOutboundPorts],
  ] as const) {
    for (const p of list) checkPort(name, p);
  }
  for (const id of [...cfg.proxyUid, ...cfg.proxyGid]) {
    if (!/^\d+$/.test(id)) throw new CaptureError('E_CAPTURE_CONFIG', `proxy uid/gid "${id}" must be a number`);
  }
  if (cfg.includeOutboundIpRanges !== '*') for (const c of cfg.includeOutboundIpRanges) parseCidr('includeOutboundIpRanges', c);
  for (const c of cfg.excludeOutboundIpRanges) {
    if (c === '*')
      throw new CaptureError(
        'E_CAPTURE_CONFIG',
        'excludeOutboundIpRanges: "*" is not allowed (it would disable outbound capture; use --include-outbound-ip-ranges "" instead)',
      );
    parseCidr('excludeOutboundIpRanges', c);
  }
  for (const s of cfg.dnsServers) {
    if (net.isIP(s) === 0) throw new CaptureError('E_CAPTURE_CONFIG', `dnsServers: "${s}" is not an IP address`);
  }
  parseCidr('hostIPv4LoopbackCidr', cfg.hostIPv4LoopbackCidr);
  return cfg;
}

/** The whole rule set for one pod, in the order istio-iptables appends it. */
export function buildCaptureRules(input: Partial<CaptureConfig> = {}): CaptureRuleSet {
  const cfg = resolveCaptureConfig(input);
  return { v4: buildFamily(cfg, 4), v6: cfg.ipv6 ? buildFamily(cfg, 6) : [] };
}

function buildFamily(cfg: CaptureConfig, family: 4 | 6): IptablesRule[] {
  const rules: IptablesRule[] = [];
  const add = (table: IptablesTable, chain: string, ...params: string[]): void => {
    rules.push({ table, chain, params });
  };
  const loopback = family === 4 ? cfg.hostIPv4LoopbackCidr : '::1/128';
  const innerPassthrough = family === 4 ? '127.0.0.6/32' : '::6/128';
  const ofFamily = (cidrs: string[]): string[] => cidrs.filter((c) => parseCidr('cidr', c).family === family);
  const includeRanges = cfg.includeOutboundIpRanges === '*' ? '*' : ofFamily(cfg.includeOutboundIpRanges);
  const includeHasLoopback = includeRanges !== '*' && includeRanges.some((c) => isLoopback(parseCidr('cidr', c).address));
  const dnsServers = cfg.dnsServers.filter((s) => net.isIP(s) === family);
  const captureAllDns = cfg.dns && cfg.dnsServers.length === 0;
  const redirectDns = cfg.dns;
  const dnsPort = String(cfg.dnsPort);
  const tunnel = String(cfg.inboundTunnelPort);

  // Connections straight to the tunnel port are never captured.
  add('nat', ISTIO_INBOUND, '-p', 'tcp', '--dport', tunnel, '-j', 'RETURN');
  // The two redirect chains: outbound to the virtual outbound listener, inbound to the virtual inbound one.
  add('nat', ISTIO_REDIRECT, '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(cfg.outboundPort));
  add('nat', ISTIO_IN_REDIRECT, '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(cfg.inboundPort));

  // Inbound.
  const inboundAll = cfg.inboundPorts === '*';
  const inboundList = cfg.inboundPorts === '*' ? [] : cfg.inboundPorts;
  if (inboundAll || inboundList.length > 0) {
    add('nat', 'PREROUTING', '-p', 'tcp', '-j', ISTIO_INBOUND);
    if (inboundAll) {
      for (const port of uniquePorts([...PROXY_ADMIN_PORTS, ...cfg.excludeInboundPorts])) {
        add('nat', ISTIO_INBOUND, '-p', 'tcp', '--dport', String(port), '-j', 'RETURN');
      }
      add('nat', ISTIO_INBOUND, '-p', 'tcp', '-j', ISTIO_IN_REDIRECT);
    } else {
      for (const port of inboundList) add('nat', ISTIO_INBOUND, '-p', 'tcp', '--dport', String(port), '-j', ISTIO_IN_REDIRECT);
    }
  }

  // Outbound: everything from the application goes through ISTIO_OUTPUT.
  add('nat', 'OUTPUT', '-j', ISTIO_OUTPUT);
  // Port exclusions come before the loopback rules so they hold for connections back to this pod too.
  for (const port of cfg.excludeOutboundPorts) {
    add('nat', ISTIO_OUTPUT, '-p', 'tcp', '--dport', String(port), '-j', 'RETURN');
    add('nat', ISTIO_OUTPUT, '-p', 'udp', '--dport', String(port), '-j', 'RETURN');
  }
  // 127.0.0.6 is the source the inbound passthrough cluster binds to.
  add('nat', ISTIO_OUTPUT, '-o', 'lo', '-s', innerPassthrough, '-j', 'RETURN');

  const owners: Array<['--uid-owner' | '--gid-owner', string]> = [
    ...cfg.proxyUid.map((u) => ['--uid-owner', u] as ['--uid-owner', string]),
    ...cfg.proxyGid.map((g) => ['--gid-owner', g] as ['--gid-owner', string]),
  ];
  for (const [flag, id] of owners) {
    // The proxy calling this pod through a service VIP (app → proxy → proxy → app) goes to the inbound listener.
    if (redirectDns && flag === '--uid-owner') {
      add(
        'nat',
        ISTIO_OUTPUT,
        '-o',
        'lo',
        '!',
        '-d',
        loopback,
        '-p',
        'tcp',
        '-m',
        'multiport',
        '!',
        '--dports',
        `53,${tunnel}`,
        '-m',
        'owner',
        flag,
        id,
        '-j',
        ISTIO_IN_REDIRECT,
      );
    } else {
      add(
        'nat',
        ISTIO_OUTPUT,
        '-o',
        'lo',
        '!',
        '-d',
        loopback,
        '-p',
        'tcp',
        '!',
        '--dport',
        tunnel,
        '-m',
        'owner',
        flag,
        id,
        '-j',
        ISTIO_IN_REDIRECT,
      );
    }
    // The application calling itself by its own address over lo is not captured, unless the user
    // explicitly included loopback ranges. DNS over TCP to a local resolver still is.
    if (!includeHasLoopback) {
      if (redirectDns) {
        add('nat', ISTIO_OUTPUT, '-o', 'lo', '-p', 'tcp', '!', '--dport', '53', '-m', 'owner', '!', flag, id, '-j', 'RETURN');
      } else {
        add('nat', ISTIO_OUTPUT, '-o', 'lo', '-m', 'owner', '!', flag, id, '-j', 'RETURN');
      }
    }
    // The proxy's own traffic (any protocol, any destination) is never captured: no loops.
    add('nat', ISTIO_OUTPUT, '-m', 'owner', flag, id, '-j', 'RETURN');
  }

  if (redirectDns) addDnsRules(add, cfg, family, dnsServers, captureAllDns, dnsPort);

  // Loopback destinations (sidecar-aware apps, container to container) are never captured.
  add('nat', ISTIO_OUTPUT, '-d', loopback, '-j', 'RETURN');
  // CIDR exclusions come before inclusions.
  for (const cidr of ofFamily(cfg.excludeOutboundIpRanges)) add('nat', ISTIO_OUTPUT, '-d', cidr, '-j', 'RETURN');
  for (const port of cfg.includeOutboundPorts) add('nat', ISTIO_OUTPUT, '-p', 'tcp', '--dport', String(port), '-j', ISTIO_REDIRECT);
  if (includeRanges === '*') {
    add('nat', ISTIO_OUTPUT, '-j', ISTIO_REDIRECT);
  } else {
    for (const cidr of includeRanges) add('nat', ISTIO_OUTPUT, '-d', cidr, '-j', ISTIO_REDIRECT);
  }
  return rules;
}

function addDnsRules(
  add: (table: IptablesTable, chain: string, ...params: string[]) => void,
  cfg: CaptureConfig,
  family: 4 | 6,
  servers: string[],
  captureAll: boolean,
  dnsPort: string,
): void {
  const hostBits = family === 4 ? '/32' : '/128';
  // raw:OUTPUT needs its own jump (for the conntrack zones below); nat:ISTIO_OUTPUT jumps only when there is something to capture.
  add('raw', 'OUTPUT', '-j', ISTIO_OUTPUT_DNS);
  if (captureAll || servers.length > 0) add('nat', ISTIO_OUTPUT, '-j', ISTIO_OUTPUT_DNS);
  if (captureAll) {
    add('nat', ISTIO_OUTPUT_DNS, '-p', 'tcp', '--dport', '53', '-j', 'REDIRECT', '--to-ports', dnsPort);
    add('nat', ISTIO_OUTPUT_DNS, '-p', 'udp', '--dport', '53', '-j', 'REDIRECT', '--to-port', dnsPort);
  } else {
    // Only the resolvers in resolv.conf, so a local dnsmasq forwarding upstream does not loop back to the proxy.
    for (const s of servers)
      add('nat', ISTIO_OUTPUT_DNS, '-p', 'tcp', '--dport', '53', '-d', s + hostBits, '-j', 'REDIRECT', '--to-ports', dnsPort);
    for (const s of servers)
      add('nat', ISTIO_OUTPUT_DNS, '-p', 'udp', '--dport', '53', '-d', s + hostBits, '-j', 'REDIRECT', '--to-port', dnsPort);
  }
  // Separate conntrack zones for proxy↔upstream (1) and client↔proxy (2) UDP DNS, so the two flows of
  // one query cannot collide in conntrack (Istio's fix for dropped DNS replies).
  for (const [flag, ids] of [
    ['--uid-owner', cfg.proxyUid],
    ['--gid-owner', cfg.proxyGid],
  ] as const) {
    for (const id of ids) {
      add('raw', ISTIO_OUTPUT_DNS, '-p', 'udp', '--dport', '53', '-m', 'owner', flag, id, '-j', 'CT', '--zone', '1');
      add('raw', ISTIO_OUTPUT_DNS, '-p', 'udp', '--sport', dnsPort, '-m', 'owner', flag, id, '-j', 'CT', '--zone', '2');
    }
  }
  if (captureAll) {
    add('raw', 'PREROUTING', '-j', ISTIO_INBOUND);
    add('raw', ISTIO_OUTPUT_DNS, '-p', 'udp', '--dport', '53', '-j', 'CT', '--zone', '2');
    add('raw', ISTIO_INBOUND, '-p', 'udp', '--sport', '53', '-j', 'CT', '--zone', '1');
  } else if (servers.length > 0) {
    add('raw', 'PREROUTING', '-j', ISTIO_INBOUND);
    for (const s of servers) {
      add('raw', ISTIO_OUTPUT_DNS, '-p', 'udp', '--dport', '53', '-d', s + hostBits, '-j', 'CT', '--zone', '2');
      add('raw', ISTIO_INBOUND, '-p', 'udp', '--sport', '53', '-s', s + hostBits, '-j', 'CT', '--zone', '1');
    }
  }
}

/** True when the chain is one of iptables' built-in chains (never created or deleted by capture). */
export function isBuiltinChain(chain: string): boolean {
  return BUILTIN_CHAINS.has(chain);
}

/**
 * The iptables-restore input (for `--noflush`) that adds the rules: tables in name order, each with
 * `-N` for every chain it uses, then the rules in order, then COMMIT — as istio-iptables writes it.
 */
export function restoreLines(rules: IptablesRule[]): string[] {
  const byTable = new Map<IptablesTable, { chains: string[]; lines: string[] }>();
  const entry = (t: IptablesTable) => {
    let e = byTable.get(t);
    if (!e) byTable.set(t, (e = { chains: [], lines: [] }));
    return e;
  };
  for (const r of rules) {
    const e = entry(r.table);
    if (!isBuiltinChain(r.chain) && !e.chains.includes(r.chain)) e.chains.push(r.chain);
  }
  // A jump to a chain of ours that has no rules in this table still needs the chain to exist.
  for (const r of rules) {
    const target = jumpTarget(r);
    const e = entry(r.table);
    if (target !== undefined && CAPTURE_CHAINS.includes(target) && !e.chains.includes(target)) e.chains.push(target);
  }
  for (const r of rules) entry(r.table).lines.push(['-A', r.chain, ...r.params].join(' '));
  const out: string[] = [];
  for (const table of [...byTable.keys()].sort()) {
    const e = byTable.get(table)!;
    out.push(`* ${table}`, ...e.chains.map((c) => `-N ${c}`), ...e.lines, 'COMMIT');
  }
  return out;
}

/** The target after `-j`, if the rule has one. */
export function jumpTarget(rule: IptablesRule): string | undefined {
  const i = rule.params.lastIndexOf('-j');
  return i >= 0 ? rule.params[i + 1] : undefined;
}

/** The chains of ours each table uses, for cleanup. */
export function chainsByTable(rules: IptablesRule[]): Map<IptablesTable, string[]> {
  const out = new Map<IptablesTable, string[]>();
  for (const r of rules) {
    const list = out.get(r.table) ?? [];
    for (const c of [r.chain, jumpTarget(r)]) {
      if (c !== undefined && CAPTURE_CHAINS.includes(c) && !list.includes(c)) list.push(c);
    }
    out.set(r.table, list);
  }
  return out;
}

function uniquePorts(ports: number[]): number[] {
  return [...new Set(ports)];
}

function checkPort(name: string, port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new CaptureError('E_CAPTURE_CONFIG', `${name}: ${String(port)} is not a TCP/UDP port (1-65535)`);
  }
}

function parseCidr(name: string, cidr: string): { address: string; bits: number; family: 4 | 6 } {
  const slash = cidr.indexOf('/');
  const address = slash < 0 ? cidr : cidr.slice(0, slash);
  const family = net.isIP(address);
  const bits = slash < 0 ? (family === 6 ? 128 : 32) : Number(cidr.slice(slash + 1));
  if (
    family === 0 ||
    !Number.isInteger(bits) ||
    bits < 0 ||
    bits > (family === 6 ? 128 : 32) ||
    (slash >= 0 && !/^\d+$/.test(cidr.slice(slash + 1)))
  ) {
    throw new CaptureError('E_CAPTURE_CONFIG', `${name}: "${cidr}" is not a CIDR (e.g. 10.0.0.0/8 or fd00::/8)`);
  }
  return { address, bits, family: family as 4 | 6 };
}

function isLoopback(address: string): boolean {
  return net.isIPv4(address) ? address.startsWith('127.') : address === '::1';
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
