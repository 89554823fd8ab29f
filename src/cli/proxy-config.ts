// `meshgate proxy-config listeners|clusters|endpoints|secrets|all [ADMIN]`: the live config of one proxy,
// read from its admin endpoint, printed as `istioctl proxy-config` does (tables), or whole with -o json.
import type { Command } from 'commander';
import { redactSecrets } from '../xds/redact.js';

export class ProxyConfigCliError extends Error {
  readonly code = 'E_PROXY_CONFIG';
}

type Json = Record<string, unknown>;
export type ProxyConfigKind = 'listeners' | 'clusters' | 'endpoints' | 'secrets' | 'all';

export interface AdminSnapshot {
  configDump: { configs: Json[] };
  clusters: { cluster_statuses: { name: string; hosts: { address: string; port: number; healthy: boolean; ejected: boolean }[] }[] };
  certs: { certificates: Json[] };
}

export async function fetchAdmin(admin: string): Promise<AdminSnapshot> {
  const base = admin.startsWith('http') ? admin : `http://${admin}`;
  const get = async (p: string): Promise<unknown> => {
    let res: Response;
    try {
      res = await fetch(`${base}${p}`);
    } catch (err) {
      throw new ProxyConfigCliError(`cannot reach the proxy admin at ${base}: ${(err as Error).message} (is the proxy running? use --admin host:port)`);
    }
    if (!res.ok) throw new ProxyConfigCliError(`${base}${p}: HTTP ${res.status}`);
    return res.json();
  };
  const [configDump, clusters, certs] = await Promise.all([get('/config_dump?include_eds'), get('/clusters'), get('/certs')]);
  // Keys are redacted again here: the admin asked may be another Envoy build or an older meshgate.
  return { configDump: redactSecrets(configDump), clusters, certs } as AdminSnapshot;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('     ').trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

function dumpOf(s: AdminSnapshot, suffix: string): Json | undefined {
  return s.configDump.configs.find((c) => String(c['@type']).endsWith(suffix));
}

interface ChainJson { filterChainMatch?: { serverNames?: string[]; transportProtocol?: string; applicationProtocols?: string[]; destinationPort?: number }; filters?: { typedConfig?: Json }[]; name?: string }

function chainMatch(c: ChainJson): string {
  const m = c.filterChainMatch ?? {};
  const parts: string[] = [];
  if (m.serverNames?.length) parts.push(`SNI: ${m.serverNames.join(',')}`);
  if (m.transportProtocol) parts.push(`Trans: ${m.transportProtocol}`);
  if (m.applicationProtocols?.length) parts.push(`App: ${m.applicationProtocols.join(',')}`);
  if (m.destinationPort) parts.push(`Port: ${m.destinationPort}`);
  return parts.length ? parts.join('; ') : 'ALL';
}

function chainDestination(c: ChainJson): string {
  const tcp = c.filters?.map((f) => f.typedConfig).find((t) => String(t?.['@type']).endsWith('TcpProxy'));
  if (!tcp) return '-';
  if (typeof tcp.cluster === 'string') return `Cluster: ${tcp.cluster}`;
  const w = (tcp.weightedClusters as { clusters?: { name: string; weight: number }[] } | undefined)?.clusters ?? [];
  return `Clusters: ${w.map((x) => `${x.name} (${x.weight})`).join(', ')}`;
}

export function formatListeners(s: AdminSnapshot): string {
  const ls = (dumpOf(s, 'ListenersConfigDump')?.dynamicListeners ?? []) as { name: string; activeState: { listener: Json } }[];
  const rows: string[][] = [];
  for (const { activeState: { listener: l } } of ls) {
    const sa = (l.address as { socketAddress?: { address: string; portValue?: number } } | undefined)?.socketAddress;
    const chains = [...((l.filterChains ?? []) as ChainJson[]), ...(l.defaultFilterChain ? [{ ...(l.defaultFilterChain as ChainJson), name: 'default' }] : [])];
    if (chains.length === 0) rows.push([sa?.address ?? '-', String(sa?.portValue ?? '-'), 'ALL', l.useOriginalDst ? 'Redirect to listener of original destination' : '-']);
    for (const c of chains) rows.push([sa?.address ?? '-', String(sa?.portValue ?? '-'), chainMatch(c), chainDestination(c)]);
  }
  return table(['ADDRESSES', 'PORT', 'MATCH', 'DESTINATION'], rows);
}

export function formatClusters(s: AdminSnapshot): string {
  const cs = (dumpOf(s, 'ClustersConfigDump')?.dynamicActiveClusters ?? []) as { cluster: Json }[];
  const rows = cs.map(({ cluster: c }) => {
    const name = String(c.name);
    const p = name.split('|');
    // Istio's names: direction|port|subset|fqdn; anything else is printed as the FQDN.
    if (p.length === 4) return [p[3]!, p[1]!, p[2] || '-', p[0]!, String(c.type ?? 'STATIC'), '-'];
    return [name, '-', '-', '-', String(c.type ?? 'STATIC'), '-'];
  });
  return table(['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE', 'DESTINATION RULE'], rows);
}

export function formatEndpoints(s: AdminSnapshot): string {
  const rows: string[][] = [];
  for (const c of s.clusters.cluster_statuses) {
    for (const h of c.hosts) rows.push([`${h.address}:${h.port}`, h.healthy ? 'HEALTHY' : 'UNHEALTHY', h.ejected ? 'FAILED' : 'OK', c.name]);
  }
  return table(['ENDPOINT', 'STATUS', 'OUTLIER CHECK', 'CLUSTER'], rows);
}

export function formatSecrets(s: AdminSnapshot): string {
  const rows: string[][] = [];
  for (const c of s.certs.certificates) {
    const isCa = Array.isArray(c.ca_cert);
    const entry = ((isCa ? c.ca_cert : c.cert_chain) as Json[])[0] ?? {};
    const expires = String(entry.expiration_time ?? '');
    rows.push([String(c.name), isCa ? 'Ca' : 'Cert Chain', 'ACTIVE', String(Date.parse(expires) > Date.now()), String(entry.serial_number ?? '-'), expires, String(entry.valid_from ?? '')]);
  }
  return table(['RESOURCE NAME', 'TYPE', 'STATUS', 'VALID CERT', 'SERIAL NUMBER', 'NOT AFTER', 'NOT BEFORE'], rows);
}

export function formatProxyConfig(kind: ProxyConfigKind, s: AdminSnapshot): string {
  switch (kind) {
    case 'listeners': return formatListeners(s);
    case 'clusters': return formatClusters(s);
    case 'endpoints': return formatEndpoints(s);
    case 'secrets': return formatSecrets(s);
    case 'all': return [formatClusters(s), formatListeners(s), formatEndpoints(s), formatSecrets(s)].join('\n');
  }
}

/** The JSON for -o json: the matching part of /config_dump (endpoints: host status; secrets: certificates). */
export function proxyConfigJson(kind: ProxyConfigKind, s: AdminSnapshot): unknown {
  switch (kind) {
    case 'listeners': return dumpOf(s, 'ListenersConfigDump');
    case 'clusters': return dumpOf(s, 'ClustersConfigDump');
    case 'endpoints': return { ...s.clusters, ...(dumpOf(s, 'EndpointsConfigDump') ? { config: dumpOf(s, 'EndpointsConfigDump') } : {}) };
    case 'secrets': return { ...dumpOf(s, 'SecretsConfigDump'), certificates: s.certs.certificates };
    case 'all': return s.configDump;
  }
}

export async function runProxyConfig(kind: string, admin: string, output: string, out: (s: string) => void): Promise<number> {
  const kinds = ['listeners', 'clusters', 'endpoints', 'secrets', 'all'];
  if (!kinds.includes(kind)) throw new ProxyConfigCliError(`unknown config type "${kind}" (one of ${kinds.join(', ')})`);
  if (output !== 'short' && output !== 'json') throw new ProxyConfigCliError(`unknown output format "${output}" (short or json)`);
  const s = await fetchAdmin(admin);
  out(output === 'json' ? `${JSON.stringify(proxyConfigJson(kind as ProxyConfigKind, s), null, 2)}\n` : formatProxyConfig(kind as ProxyConfigKind, s));
  return 0;
}

export function registerProxyConfigCommand(program: Command): void {
  program
    .command('proxy-config')
    .alias('pc')
    .description("Print a proxy's live listeners, clusters, endpoints or secrets from its admin endpoint, as istioctl proxy-config does.")
    .argument('<type>', 'listeners | clusters | endpoints | secrets | all')
    .argument('[admin]', 'the proxy admin address host:port (default 127.0.0.1:15000)')
    .option('--admin <host:port>', 'the proxy admin address', '127.0.0.1:15000')
    .option('-o, --output <format>', 'short (tables) or json', 'short')
    .action(async (type: string, adminArg: string | undefined, o: { admin: string; output: string }) => {
      process.exitCode = await runProxyConfig(type, adminArg ?? o.admin, o.output, (s) => process.stdout.write(s));
    });
}
