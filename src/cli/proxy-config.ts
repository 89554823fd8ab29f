// `meshgate proxy-config TYPE [POD[.NAMESPACE] | HOST:PORT]`: the live config of one proxy, read from
// its admin endpoint and printed as `istioctl proxy-config` does — istioctl's type names and aliases,
// its tables (-o short), the resources themselves (-o json|yaml) and its filters (--fqdn, --port,
// --direction, --subset for clusters; --address, --port for listeners; --address, --port, --cluster,
// --status for endpoints). A pod is found in the running lab, whose state records each admin address
// (loaded only then: an admin address needs none of the lab's code).
import type { Command } from 'commander';
import { redactSecrets } from '../xds/redact.js';
import { CliUsageError, outputHelp, parseOutputFormat, renderStructured } from './output-format.js';

export class ProxyConfigCliError extends Error {
  readonly code = 'E_PROXY_CONFIG';
}

type Json = Record<string, unknown>;
export type ProxyConfigKind = 'all' | 'bootstrap' | 'clusters' | 'endpoints' | 'listeners' | 'secrets';

/** istioctl's type names and aliases. */
const TYPE_NAMES: Record<string, ProxyConfigKind> = {
  all: 'all',
  bootstrap: 'bootstrap',
  b: 'bootstrap',
  cluster: 'clusters',
  clusters: 'clusters',
  c: 'clusters',
  endpoint: 'endpoints',
  endpoints: 'endpoints',
  ep: 'endpoints',
  listener: 'listeners',
  listeners: 'listeners',
  l: 'listeners',
  secret: 'secrets',
  secrets: 'secrets',
  s: 'secrets',
};

/** istioctl types meshgate has nothing for, and why (asking for them is an error, not an empty table). */
const NOT_SERVED: Record<string, string> = {
  route: 'its data plane is L4 (TCP and TLS): there are no HTTP routes (RDS); TCP and TLS routing is in "listeners"',
  log: 'the proxy has no runtime log-level endpoint; its log level is set at start',
  ecds: 'there is no extension config discovery (ECDS)',
  'rootca-compare': 'compare the ROOTCA entries of "secrets" for two pods instead',
};
const NOT_SERVED_ALIASES: Record<string, string> = {
  route: 'route',
  routes: 'route',
  r: 'route',
  log: 'log',
  o: 'log',
  ecds: 'ecds',
  e: 'ecds',
  'rootca-compare': 'rootca-compare',
  rc: 'rootca-compare',
};

export const PROXY_CONFIG_FORMATS = ['short', 'json', 'yaml'] as const;
export type ProxyConfigFormat = (typeof PROXY_CONFIG_FORMATS)[number];

export function parseConfigType(type: string): ProxyConfigKind {
  const kind = TYPE_NAMES[type.toLowerCase()];
  if (kind) return kind;
  const unserved = NOT_SERVED_ALIASES[type.toLowerCase()];
  if (unserved) throw new ProxyConfigCliError(`config type "${type}" is not served by meshgate: ${NOT_SERVED[unserved]}`);
  throw new ProxyConfigCliError(
    `unknown config type "${type}" (one of all, bootstrap, cluster(s), endpoint(s), listener(s), secret(s); istioctl's aliases b, c, ep, l, s work too)`,
  );
}

export interface AdminSnapshot {
  configDump: { configs: Json[] };
  clusters: { cluster_statuses: { name: string; hosts: { address: string; port: number; healthy: boolean; ejected: boolean }[] }[] };
  certs: { certificates: Json[] };
}

export async function fetchAdmin(admin: string): Promise<AdminSnapshot> {
  const base = admin.startsWith('http') ? admin.replace(/\/$/, '') : `http://${admin}`;
  const get = async (p: string): Promise<unknown> => {
    let res: Response;
    try {
      res = await fetch(`${base}${p}`, { signal: AbortSignal.timeout(10_000) });
    } catch (err) {
      throw new ProxyConfigCliError(
        `cannot reach the proxy admin at ${base}: ${(err as Error).message} (is the proxy running? use --admin host:port)`,
      );
    }
    if (!res.ok) throw new ProxyConfigCliError(`${base}${p}: HTTP ${res.status}`);
    return res.json();
  };
  const [configDump, clusters, certs] = await Promise.all([get('/config_dump?include_eds'), get('/clusters'), get('/certs')]);
  // Keys are redacted again here: the admin asked may be another Envoy build or an older meshgate.
  return { configDump: redactSecrets(configDump), clusters, certs } as AdminSnapshot;
}

// ---- filters (istioctl's semantics: substring for FQDN and subset, exact for the rest) ----

export interface ProxyConfigFilters {
  fqdn?: string;
  port?: number;
  direction?: 'inbound' | 'outbound';
  subset?: string;
  address?: string;
  /** Endpoints: the cluster name (substring). */
  cluster?: string;
  /** Endpoints: HEALTHY or UNHEALTHY. */
  status?: 'HEALTHY' | 'UNHEALTHY';
}

/** Which filter flags each type takes, as istioctl's sub-commands define them. */
const FILTERS_OF: Record<ProxyConfigKind, readonly (keyof ProxyConfigFilters)[]> = {
  all: [],
  bootstrap: [],
  clusters: ['fqdn', 'port', 'direction', 'subset'],
  listeners: ['address', 'port'],
  endpoints: ['address', 'port', 'cluster', 'status'],
  secrets: [],
};

/** The filter flags, checked: a bad value or a flag the type does not take fails with the flag's name. */
export function parseFilters(
  kind: ProxyConfigKind,
  raw: { fqdn?: string; port?: string; direction?: string; subset?: string; address?: string; cluster?: string; status?: string },
): ProxyConfigFilters {
  const f: ProxyConfigFilters = {};
  for (const [k, v] of Object.entries(raw) as [keyof ProxyConfigFilters, string | undefined][]) {
    if (v === undefined) continue;
    if (!FILTERS_OF[kind].includes(k)) {
      const takers = (Object.keys(FILTERS_OF) as ProxyConfigKind[]).filter((t) => FILTERS_OF[t].includes(k));
      throw new CliUsageError(`--${k} filters ${takers.join(' and ')}, not ${kind}`);
    }
    if (k === 'port') {
      if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 65535) throw new CliUsageError(`--port "${v}" is not a port number (1-65535)`);
      f.port = Number(v);
    } else if (k === 'direction') {
      if (v !== 'inbound' && v !== 'outbound') throw new CliUsageError(`--direction "${v}" must be inbound or outbound`);
      f.direction = v;
    } else if (k === 'status') {
      const s = v.toUpperCase();
      if (s !== 'HEALTHY' && s !== 'UNHEALTHY') throw new CliUsageError(`--status "${v}" must be HEALTHY or UNHEALTHY`);
      f.status = s;
    } else f[k] = v;
  }
  return f;
}

// ---- the config dump, picked apart ----

function dumpOf(s: AdminSnapshot, suffix: string): Json | undefined {
  return s.configDump.configs.find((c) => String(c['@type']).endsWith(suffix));
}

function withoutType(r: Json): Json {
  const { '@type': _t, ...rest } = r;
  return rest;
}

interface ClusterRow {
  fqdn: string;
  port: string;
  subset: string;
  direction: string;
  type: string;
  destinationRule: string;
  cluster: Json;
}

/** Istio's cluster names are direction|port|subset|fqdn; any other name is shown as the FQDN, as istioctl. */
function clusterRow(c: Json): ClusterRow {
  const name = String(c.name);
  const p = name.split('|');
  // istioctl shows the DestinationRule from Istio's cluster metadata (`istio.config`, a resource path).
  const cfg = (c.metadata as { filterMetadata?: { istio?: { config?: string } } } | undefined)?.filterMetadata?.istio?.config ?? '';
  const m = /\/namespaces\/([^/]+)\/destination-rule\/([^/]+)$/.exec(cfg);
  const destinationRule = m ? `${m[2]}.${m[1]}` : '';
  const type = String(c.type ?? 'STATIC');
  if (p.length === 4) return { fqdn: p[3]!, port: p[1]!, subset: p[2] || '-', direction: p[0]!, type, destinationRule, cluster: c };
  return { fqdn: name, port: '-', subset: '-', direction: '-', type, destinationRule, cluster: c };
}

export function selectClusters(s: AdminSnapshot, f: ProxyConfigFilters = {}): ClusterRow[] {
  const cs = (dumpOf(s, 'ClustersConfigDump')?.dynamicActiveClusters ?? []) as { cluster: Json }[];
  return (
    cs
      .map(({ cluster }) => clusterRow(cluster))
      .filter(
        (r) =>
          (f.fqdn === undefined || r.fqdn.includes(f.fqdn)) &&
          (f.port === undefined || r.port === String(f.port)) &&
          (f.direction === undefined || r.direction === f.direction) &&
          (f.subset === undefined || (r.subset !== '-' && r.subset.includes(f.subset))),
      )
      // istioctl's order: by FQDN, then port, subset and direction.
      .sort(
        (a, b) =>
          a.fqdn.localeCompare(b.fqdn) ||
          (Number(a.port) || 0) - (Number(b.port) || 0) ||
          a.subset.localeCompare(b.subset) ||
          a.direction.localeCompare(b.direction),
      )
  );
}

interface ListenerJson {
  name?: string;
  address?: { socketAddress?: { address: string; portValue?: number } };
  filterChains?: ChainJson[];
  defaultFilterChain?: ChainJson;
  useOriginalDst?: boolean;
}
interface ChainJson {
  filterChainMatch?: {
    serverNames?: string[];
    transportProtocol?: string;
    applicationProtocols?: string[];
    destinationPort?: number;
    prefixRanges?: { addressPrefix: string; prefixLen?: number }[];
  };
  filters?: { typedConfig?: Json }[];
  name?: string;
}

export function selectListeners(s: AdminSnapshot, f: ProxyConfigFilters = {}): ListenerJson[] {
  const ls = (dumpOf(s, 'ListenersConfigDump')?.dynamicListeners ?? []) as { activeState?: { listener: ListenerJson } }[];
  return ls
    .flatMap((l) => (l.activeState ? [l.activeState.listener] : []))
    .filter(
      (l) =>
        (f.address === undefined || l.address?.socketAddress?.address === f.address) &&
        (f.port === undefined || l.address?.socketAddress?.portValue === f.port),
    );
}

function chainMatch(c: ChainJson): string {
  const m = c.filterChainMatch ?? {};
  const parts: string[] = [];
  if (m.serverNames?.length) parts.push(`SNI: ${m.serverNames.join(',')}`);
  if (m.transportProtocol) parts.push(`Trans: ${m.transportProtocol}`);
  if (m.applicationProtocols?.length) parts.push(`App: ${m.applicationProtocols.join(',')}`);
  if (m.prefixRanges?.length) parts.push(`Addr: ${m.prefixRanges.map((r) => `${r.addressPrefix}/${r.prefixLen ?? 32}`).join(',')}`);
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

export function selectEndpoints(s: AdminSnapshot, f: ProxyConfigFilters = {}): AdminSnapshot['clusters']['cluster_statuses'] {
  return s.clusters.cluster_statuses
    .filter((c) => f.cluster === undefined || c.name.includes(f.cluster))
    .map((c) => ({
      ...c,
      hosts: c.hosts.filter(
        (h) =>
          (f.address === undefined || h.address === f.address) &&
          (f.port === undefined || h.port === f.port) &&
          (f.status === undefined || (h.healthy ? 'HEALTHY' : 'UNHEALTHY') === f.status),
      ),
    }))
    .filter((c) => c.hosts.length > 0 || Object.keys(f).length === 0);
}

// ---- tables (-o short), istioctl's columns ----

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('     ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

export function formatClusters(s: AdminSnapshot, f?: ProxyConfigFilters): string {
  const rows = selectClusters(s, f).map((r) => [r.fqdn, r.port, r.subset, r.direction, r.type, r.destinationRule || '-']);
  return table(['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE', 'DESTINATION RULE'], rows);
}

export function formatListeners(s: AdminSnapshot, f?: ProxyConfigFilters): string {
  const rows: string[][] = [];
  for (const l of selectListeners(s, f)) {
    const sa = l.address?.socketAddress;
    const chains = [...(l.filterChains ?? []), ...(l.defaultFilterChain ? [{ ...l.defaultFilterChain, name: 'default' }] : [])];
    if (chains.length === 0)
      rows.push([
        sa?.address ?? '-',
        String(sa?.portValue ?? '-'),
        'ALL',
        l.useOriginalDst ? 'Redirect to listener of original destination' : '-',
      ]);
    for (const c of chains) rows.push([sa?.address ?? '-', String(sa?.portValue ?? '-'), chainMatch(c), chainDestination(c)]);
  }
  return table(['ADDRESSES', 'PORT', 'MATCH', 'DESTINATION'], rows);
}

export function formatEndpoints(s: AdminSnapshot, f?: ProxyConfigFilters): string {
  const rows: string[][] = [];
  for (const c of selectEndpoints(s, f)) {
    for (const h of c.hosts)
      rows.push([`${h.address}:${h.port}`, h.healthy ? 'HEALTHY' : 'UNHEALTHY', h.ejected ? 'FAILED' : 'OK', c.name]);
  }
  return table(['ENDPOINT', 'STATUS', 'OUTLIER CHECK', 'CLUSTER'], rows);
}

export function formatSecrets(s: AdminSnapshot): string {
  const rows: string[][] = [];
  for (const c of s.certs.certificates) {
    const isCa = Array.isArray(c.ca_cert);
    const entry = ((isCa ? c.ca_cert : c.cert_chain) as Json[])[0] ?? {};
    const expires = String(entry.expiration_time ?? '');
    rows.push([
      String(c.name),
      isCa ? 'Ca' : 'Cert Chain',
      'ACTIVE',
      String(Date.parse(expires) > Date.now()),
      String(entry.serial_number ?? '-'),
      expires,
      String(entry.valid_from ?? ''),
    ]);
  }
  return table(['RESOURCE NAME', 'TYPE', 'STATUS', 'VALID CERT', 'SERIAL NUMBER', 'NOT AFTER', 'NOT BEFORE'], rows);
}

function bootstrapOf(s: AdminSnapshot): Json {
  return (dumpOf(s, 'BootstrapConfigDump')?.bootstrap ?? {}) as Json;
}

export function formatBootstrap(s: AdminSnapshot): string {
  const node = (bootstrapOf(s).node ?? {}) as { id?: string; metadata?: Record<string, unknown> };
  const md = node.metadata ?? {};
  const labels = Object.entries((md.LABELS ?? {}) as Record<string, string>)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return table(
    ['NODE ID', 'NAMESPACE', 'SERVICE ACCOUNT', 'CLUSTER ID', 'LABELS'],
    [[node.id ?? '-', String(md.NAMESPACE ?? '-'), String(md.SERVICE_ACCOUNT ?? '-'), String(md.CLUSTER_ID ?? '-'), labels || '-']],
  );
}

export function formatProxyConfig(kind: ProxyConfigKind, s: AdminSnapshot, f: ProxyConfigFilters = {}): string {
  switch (kind) {
    case 'bootstrap':
      return formatBootstrap(s);
    case 'listeners':
      return formatListeners(s, f);
    case 'clusters':
      return formatClusters(s, f);
    case 'endpoints':
      return formatEndpoints(s, f);
    case 'secrets':
      return formatSecrets(s);
    case 'all':
      return [formatClusters(s), formatListeners(s), formatEndpoints(s), formatSecrets(s)].join('\n');
  }
}

/** What -o json|yaml prints: the (filtered) resources, as istioctl prints them; `all` is the whole dump. */
export function proxyConfigJson(kind: ProxyConfigKind, s: AdminSnapshot, f: ProxyConfigFilters = {}): unknown {
  switch (kind) {
    case 'bootstrap':
      return { bootstrap: bootstrapOf(s) };
    case 'listeners':
      return selectListeners(s, f).map((l) => withoutType(l as Json));
    case 'clusters':
      return selectClusters(s, f).map((r) => withoutType(r.cluster));
    case 'endpoints':
      return selectEndpoints(s, f);
    case 'secrets':
      return { ...dumpOf(s, 'SecretsConfigDump'), certificates: s.certs.certificates };
    case 'all':
      return s.configDump;
  }
}

/** A host:port or URL names the admin directly; anything else is a pod. */
export function isAdminAddress(target: string): boolean {
  return /^https?:\/\//.test(target) || /^(\[[0-9a-fA-F:.]+\]|[\w.-]*):\d+$/.test(target);
}

export async function runProxyConfig(
  type: string,
  admin: string,
  output: string,
  out: (s: string) => void,
  filters: ProxyConfigFilters = {},
): Promise<number> {
  const kind = parseConfigType(type);
  const format = parseOutputFormat(output, PROXY_CONFIG_FORMATS, 'proxy-config');
  const s = await fetchAdmin(admin);
  out(format === 'short' ? formatProxyConfig(kind, s, filters) : renderStructured(proxyConfigJson(kind, s, filters), format));
  return 0;
}

interface ProxyConfigFlags {
  admin?: string;
  output: string;
  namespace?: string;
  cluster?: string;
  stateDir?: string;
  lab?: string;
  fqdn?: string;
  port?: string;
  direction?: string;
  subset?: string;
  address?: string;
  status?: string;
}

export function registerProxyConfigCommand(program: Command): void {
  program
    .command('proxy-config')
    .alias('pc')
    .description(
      "Print a proxy's live clusters, listeners, endpoints, secrets or bootstrap, as istioctl proxy-config does: by pod (found in the running lab) or by admin address.",
    )
    .argument('<type>', 'all | bootstrap (b) | cluster(s) (c) | endpoint(s) (ep) | listener(s) (l) | secret(s) (s)')
    .argument('[pod]', 'POD[.NAMESPACE] of the running lab, or the admin address host:port (default 127.0.0.1:15000)')
    .option('--admin <host:port>', "the proxy's admin address, instead of a pod")
    .option('-o, --output <format>', outputHelp(PROXY_CONFIG_FORMATS), 'short')
    .option('-n, --namespace <namespace>', 'the namespace of POD when it has no .NAMESPACE', 'default')
    .option('--lab-cluster <name>', 'the lab cluster holding POD, when several do (each has an istio-ingressgateway)')
    .option('--state-dir <dir>', "the lab's state dir (default: the only lab running)")
    .option('--lab <dir>', 'the lab folder, to find its state dir')
    .option('--fqdn <fqdn>', 'clusters: only those whose service FQDN contains this')
    .option('--port <port>', 'clusters, listeners, endpoints: only this port')
    .option('--direction <direction>', 'clusters: inbound or outbound')
    .option('--subset <subset>', 'clusters: only those whose subset contains this')
    .option('--address <address>', 'listeners, endpoints: only this address')
    .option('--cluster <name>', 'endpoints: only clusters whose name contains this')
    .option('--status <status>', 'endpoints: HEALTHY or UNHEALTHY')
    .action(async (type: string, target: string | undefined, o: ProxyConfigFlags & { labCluster?: string }) => {
      const kind = parseConfigType(type);
      parseOutputFormat(o.output, PROXY_CONFIG_FORMATS, 'proxy-config');
      const filters = parseFilters(kind, {
        fqdn: o.fqdn,
        port: o.port,
        direction: o.direction,
        subset: o.subset,
        address: o.address,
        cluster: o.cluster,
        status: o.status,
      });
      let admin = o.admin ?? '127.0.0.1:15000';
      if (target !== undefined && o.admin !== undefined)
        throw new CliUsageError(`give a pod or --admin, not both ("${target}" and --admin ${o.admin})`);
      if (target !== undefined) {
        admin = isAdminAddress(target)
          ? target
          : (await import('./lab-locate.js')).findLabProxy(target, {
              namespace: o.namespace,
              ...(o.labCluster ? { cluster: o.labCluster } : {}),
              ...(o.stateDir ? { stateDir: o.stateDir } : {}),
              ...(o.lab ? { lab: o.lab } : {}),
            }).adminUrl;
      }
      process.exitCode = await runProxyConfig(kind, admin, o.output, (s) => process.stdout.write(s), filters);
    });
}
