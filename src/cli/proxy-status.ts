// `meshgate proxy-status [POD[.NAMESPACE]]`, as `istioctl proxy-status`: without a pod, one line per
// connected proxy with, per xDS type, whether what was last sent is ACKed (SYNCED), not yet or NACKed
// (STALE), or never sent (NOT SENT), read from each control plane's /debug/syncz (--control-plane, or
// every cluster of the running lab). With a pod, what the control plane serves that proxy against what
// the proxy holds, per type ("Clusters Match", or "Listeners Don't Match" and a unified diff).
import type { Command } from 'commander';
import { redactSecrets } from '../xds/redact.js';
import type { ProxySync } from '../controlplane/sync-status.js';
import { compareProxyConfig, formatComparison, type ControlPlaneDump, type ProxyDump, type TypeComparison } from './config-compare.js';
import { attachLab } from '../lab/lab.js';
import { findLabProxy, LabLocateError, parsePodRef, resolveStateDir } from './lab-locate.js';
import { CliUsageError, outputHelp, parseOutputFormat, renderStructured } from './output-format.js';

export interface Syncz {
  cluster: string;
  proxies: ProxySync[];
  /** host:port of the control plane that answered (istioctl's ISTIOD column); set by fetchSyncz. */
  controlPlane?: string;
}

export class ProxyStatusError extends Error {
  readonly code = 'E_PROXY_STATUS';
}

export const PROXY_STATUS_FORMATS = ['short', 'wide', 'json', 'yaml'] as const;

const TYPES = [
  ['CDS', 'cds'],
  ['LDS', 'lds'],
  ['EDS', 'eds'],
  ['SDS', 'sds'],
] as const;
const DEFAULT_CONTROL_PLANE = 'http://127.0.0.1:15014';

/**
 * The table istioctl prints (meshgate has SDS where Istio has RDS: it serves no HTTP routes); NACKed
 * types say so after STALE, with the proxy's error below the table. `wide` adds each proxy's proven
 * identity and the snapshot version it is served.
 */
export function formatProxyStatus(s: Syncz | readonly Syncz[], opts: { wide?: boolean } = {}): string {
  const sources = Array.isArray(s) ? (s as readonly Syncz[]) : [s as Syncz];
  const header = ['NAME', 'CLUSTER', ...TYPES.map(([h]) => h), 'ISTIOD', 'VERSION', ...(opts.wide ? ['IDENTITY', 'SNAPSHOT'] : [])];
  const notes: string[] = [];
  const rows = sources.flatMap((src) =>
    src.proxies.map((p) => {
      const cells = TYPES.map(([, k]) => {
        const t = p.types[k];
        if (!t) return 'NOT SENT';
        if (t.nacked !== undefined) {
          notes.push(`${p.name} ${k.toUpperCase()} rejected version ${t.nacked}: ${t.error ?? 'no reason given'}`);
          return `${t.state} (NACK)`;
        }
        return t.state;
      });
      return [
        p.name,
        p.clusterId,
        ...cells,
        src.controlPlane ?? '-',
        p.istioVersion ?? '-',
        ...(opts.wide ? [p.identity, p.snapshotVersion ?? '-'] : []),
      ];
    }),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3)))
      .join('')
      .trimEnd();
  const out = [line(header), ...rows.map(line)];
  if (notes.length > 0) out.push('', ...notes);
  return `${out.join('\n')}\n`;
}

function baseUrl(controlPlane: string): string {
  return (/^https?:\/\//.test(controlPlane) ? controlPlane : `http://${controlPlane}`).replace(/\/$/, '');
}

async function getJson(url: string, what: string, timeoutMs: number): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new ProxyStatusError(`cannot reach ${what} at ${url}: ${(err as Error).message}`, { cause: err });
  }
  if (!res.ok) throw new ProxyStatusError(`${url} answered ${res.status}: ${await res.text()}`);
  // Whatever answers (an older control plane, a NACK quoting a key) never has a key printed from here.
  return redactSecrets(await res.json());
}

export async function fetchSyncz(controlPlane: string, timeoutMs = 5000): Promise<Syncz> {
  const base = baseUrl(controlPlane);
  const s = (await getJson(`${base}/debug/syncz`, 'the control plane', timeoutMs)) as Syncz;
  return { ...s, controlPlane: new URL(base).host };
}

/** The control planes to ask: --control-plane, else each cluster of the lab (named, or the only one running), else istiod's default port. */
function controlPlanesFor(o: { controlPlane?: string; stateDir?: string; lab?: string; labCluster?: string }): string[] {
  if (o.controlPlane) return [o.controlPlane];
  let stateDir: string;
  try {
    stateDir = resolveStateDir(o.lab, o.stateDir);
  } catch (err) {
    // Without lab flags, no lab (or several) means a control plane run on its own: istiod's port.
    if (o.lab === undefined && o.stateDir === undefined && err instanceof LabLocateError) return [DEFAULT_CONTROL_PLANE];
    throw err;
  }
  const clusters = attachLab(stateDir).clusters.filter((c) => o.labCluster === undefined || c.name === o.labCluster);
  if (clusters.length === 0) throw new ProxyStatusError(`the lab in ${stateDir} has no cluster "${o.labCluster}"`);
  return clusters.map((c) => c.controlPlaneUrl);
}

export interface PodStatusTarget {
  /** POD[.NAMESPACE]. */
  pod: string;
  namespace?: string;
  controlPlane: string;
  admin: string;
  /** Only the proxy of this cluster ID (the lab's cluster name), when known. */
  clusterId?: string;
}

export interface PodStatus {
  proxy: string;
  name: string;
  clusterId: string;
  types: TypeComparison[];
}

/** The control plane's view of one proxy against the proxy's own config dump. */
export async function podStatus(t: PodStatusTarget, timeoutMs = 10_000): Promise<PodStatus> {
  const { name, namespace } = parsePodRef(t.pod, t.namespace);
  const syncz = await fetchSyncz(t.controlPlane, timeoutMs);
  const p = syncz.proxies.find((x) => x.name === `${name}.${namespace}` && (t.clusterId === undefined || x.clusterId === t.clusterId));
  if (!p)
    throw new ProxyStatusError(
      `pod ${name}.${namespace} is not connected to the control plane at ${syncz.controlPlane} (connected: ${syncz.proxies.map((x) => x.name).join(', ') || 'none'})`,
    );
  const cp = (await getJson(
    `${baseUrl(t.controlPlane)}/debug/config_dump?proxyID=${encodeURIComponent(p.proxy)}`,
    'the control plane',
    timeoutMs,
  )) as ControlPlaneDump;
  const proxy = (await getJson(`${baseUrl(t.admin)}/config_dump?include_eds`, "the proxy's admin", timeoutMs)) as ProxyDump;
  return { proxy: p.proxy, name: p.name, clusterId: p.clusterId, types: compareProxyConfig(cp, proxy) };
}

interface ProxyStatusFlags {
  controlPlane?: string;
  admin?: string;
  output: string;
  namespace: string;
  labCluster?: string;
  stateDir?: string;
  lab?: string;
}

export function registerProxyStatusCommand(program: Command): void {
  program
    .command('proxy-status')
    .alias('ps')
    .description(
      'Show every proxy connected to the control plane and whether each xDS type is in sync; with a pod, diff what the control plane sent against what the proxy holds (like istioctl proxy-status).',
    )
    .argument('[pod]', "POD[.NAMESPACE]: compare this proxy's config with what its control plane sends")
    .option(
      '--control-plane <url>',
      "the control plane's monitoring address (/debug/syncz; default: every cluster of the running lab, else http://127.0.0.1:15014)",
    )
    .option('--admin <host:port>', "with a pod: the proxy's admin address, instead of finding the pod in the lab")
    .option('-o, --output <format>', outputHelp(PROXY_STATUS_FORMATS), 'short')
    .option('-n, --namespace <namespace>', 'the namespace of POD when it has no .NAMESPACE', 'default')
    .option('--lab-cluster <name>', 'only this lab cluster (or: the cluster holding POD, when several do)')
    .option('--state-dir <dir>', "the lab's state dir (default: the only lab running)")
    .option('--lab <dir>', 'the lab folder, to find its state dir')
    .action(async (pod: string | undefined, o: ProxyStatusFlags) => {
      const format = parseOutputFormat(o.output, PROXY_STATUS_FORMATS, 'proxy-status');
      if (pod === undefined) {
        if (o.admin !== undefined) throw new CliUsageError('--admin needs a pod: meshgate proxy-status POD --admin host:port');
        const all = await Promise.all(controlPlanesFor(o).map((cp) => fetchSyncz(cp)));
        if (format === 'json' || format === 'yaml') process.stdout.write(renderStructured(all.length === 1 ? all[0] : all, format));
        else if (all.every((s) => s.proxies.length === 0))
          process.stdout.write(`no proxies are connected to the control plane of ${all.map((s) => `cluster ${s.cluster}`).join(', ')}\n`);
        else process.stdout.write(formatProxyStatus(all, { wide: format === 'wide' }));
        return;
      }
      if (format === 'wide') throw new CliUsageError('-o wide is for the table; with a pod use short, json or yaml');
      let target: PodStatusTarget;
      if (o.controlPlane !== undefined && o.admin !== undefined)
        target = { pod, namespace: o.namespace, controlPlane: o.controlPlane, admin: o.admin };
      else {
        const found = findLabProxy(pod, {
          namespace: o.namespace,
          ...(o.labCluster ? { cluster: o.labCluster } : {}),
          ...(o.stateDir ? { stateDir: o.stateDir } : {}),
          ...(o.lab ? { lab: o.lab } : {}),
        });
        const controlPlane = o.controlPlane ?? found.controlPlaneUrl;
        if (!controlPlane)
          throw new ProxyStatusError(`the lab records no control plane for cluster ${found.cluster}; give --control-plane`);
        target = { pod, namespace: o.namespace, controlPlane, admin: o.admin ?? found.adminUrl, clusterId: found.cluster };
      }
      const status = await podStatus(target);
      process.stdout.write(format === 'short' ? formatComparison(status.types) : renderStructured(status, format));
    });
}
