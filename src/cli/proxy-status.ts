// `meshgate proxy-status [--control-plane URL]`: like `istioctl proxy-status`, one line per connected
// proxy with, per xDS type, whether what was last sent is ACKed (SYNCED), not yet or NACKed (STALE), or
// never sent (NOT SENT). Reads the control plane's /debug/syncz; `-o json|yaml` prints it whole.
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { redactSecrets } from '../xds/redact.js';
import type { ProxySync } from '../controlplane/sync-status.js';

export interface Syncz {
  cluster: string;
  proxies: ProxySync[];
}

export class ProxyStatusError extends Error {
  readonly code = 'E_PROXY_STATUS';
}

const TYPES = [['CDS', 'cds'], ['LDS', 'lds'], ['EDS', 'eds'], ['SDS', 'sds']] as const;

/** The table istioctl prints; NACKed types say so after STALE, with the proxy's error below the table. */
export function formatProxyStatus(s: Syncz): string {
  const header = ['NAME', 'CLUSTER', ...TYPES.map(([h]) => h), 'VERSION'];
  const notes: string[] = [];
  const rows = s.proxies.map((p) => {
    const cells = TYPES.map(([, k]) => {
      const t = p.types[k];
      if (!t) return 'NOT SENT';
      if (t.nacked !== undefined) {
        notes.push(`${p.name} ${k.toUpperCase()} rejected version ${t.nacked}: ${t.error ?? 'no reason given'}`);
        return `${t.state} (NACK)`;
      }
      return t.state;
    });
    return [p.name, p.clusterId, ...cells, p.snapshotVersion ?? '-'];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd();
  const out = [line(header), ...rows.map(line)];
  if (notes.length > 0) out.push('', ...notes);
  return `${out.join('\n')}\n`;
}

export async function fetchSyncz(controlPlane: string, timeoutMs = 5000): Promise<Syncz> {
  const base = /^https?:\/\//.test(controlPlane) ? controlPlane : `http://${controlPlane}`;
  const url = `${base.replace(/\/$/, '')}/debug/syncz`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new ProxyStatusError(`cannot reach the control plane at ${url}: ${(err as Error).message}`, { cause: err });
  }
  if (!res.ok) throw new ProxyStatusError(`${url} answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as Syncz;
}

export function registerProxyStatusCommand(program: Command): void {
  program
    .command('proxy-status')
    .description('Show every proxy connected to the control plane and whether each xDS type is in sync (like istioctl proxy-status).')
    .option('--control-plane <url>', "the control plane's monitoring address (/debug/syncz)", 'http://127.0.0.1:15014')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (o: { controlPlane: string; output: string }) => {
      if (!['table', 'json', 'yaml'].includes(o.output)) throw Object.assign(new Error(`unknown output format "${o.output}": expected table, json or yaml`), { code: 'E_CLI_USAGE' });
      // A NACK's error text is the proxy's own words and is printed as is, minus any key it quotes.
      const s = redactSecrets(await fetchSyncz(o.controlPlane));
      if (o.output === 'json') process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
      else if (o.output === 'yaml') process.stdout.write(stringify(s));
      else process.stdout.write(s.proxies.length === 0 ? `no proxies are connected to the control plane of cluster ${s.cluster}\n` : formatProxyStatus(s));
    });
}
