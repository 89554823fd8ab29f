// A cluster's DNS server in netns mode (the role of kube-dns/CoreDNS): a DnsProxy with a static name
// table, run as a recorded lab process inside the cluster's bridge namespace on the bridge address,
// port 53, named by every pod's resolv.conf. It answers the lab file's `dns:` names (as that cluster
// sees them) and the Services of the cluster's config that declare a cluster IP; it knows no upstream,
// so any other name gets SERVFAIL at once (the lab cannot reach the host's resolvers).
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { NameInfo, NameTable } from '../envoy/name-table.js';
import type { LabPlan, PlannedCluster } from './lab-plan.js';
import type { LabState } from './lab-state.js';
import { nodeEntry, startLabProcess, type LabProcess } from './lab-process.js';

export const CLUSTER_DNS_PORT = 53;

/** Services with a cluster IP in the config folder's YAML (`name.namespace.svc.<domain>` → clusterIP(s)). */
export function servicesWithClusterIp(configDir: string, domainSuffix = 'cluster.local'): Record<string, NameInfo> {
  const out: Record<string, NameInfo> = {};
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir).sort()) {
      const file = path.join(dir, entry);
      if (statSync(file).isDirectory()) walk(file);
      else if (/\.ya?ml$/.test(entry)) {
        for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
          const o = doc.toJS() as {
            kind?: string;
            metadata?: { name?: string; namespace?: string };
            spec?: { clusterIP?: string; clusterIPs?: string[] };
          } | null;
          if (o?.kind !== 'Service' || !o.metadata?.name) continue;
          const ips = (o.spec?.clusterIPs ?? (o.spec?.clusterIP ? [o.spec.clusterIP] : [])).filter((ip) => net.isIP(ip) !== 0);
          if (ips.length === 0) continue;
          const namespace = o.metadata.namespace ?? 'default';
          out[`${o.metadata.name}.${namespace}.svc.${domainSuffix}`] = {
            ips,
            registry: 'Kubernetes',
            shortname: o.metadata.name,
            namespace,
          };
        }
      }
    }
  };
  if (existsSync(configDir)) walk(configDir);
  return out;
}

/** The cluster DNS server's table: the cluster's Services with addresses, then the lab's `dns:` names. */
export function clusterDnsTable(plan: LabPlan, cluster: Pick<PlannedCluster, 'name'>, configDir: string): NameTable {
  const table: Record<string, NameInfo> = { ...servicesWithClusterIp(configDir) };
  for (const [host, address] of Object.entries(plan.clusterDnsNames.get(cluster.name) ?? {}))
    table[host] = { ips: [address], registry: 'External' };
  return { table };
}

/**
 * Writes the table to `<dir>/dns-table.json` and starts the server in the cluster's namespace; resolves
 * once it answers (its ready file exists), rejects if it exits first or is not ready in `timeoutMs`.
 */
export async function startClusterDns(
  state: LabState,
  logDir: string,
  plan: LabPlan,
  cluster: PlannedCluster,
  configDir: string,
  dir: string,
  timeoutMs: number,
): Promise<LabProcess> {
  if (!cluster.netns || !cluster.dnsAddress) throw new RangeError(`cluster ${cluster.name}: a cluster DNS server needs netns mode`);
  const tableFile = path.join(dir, 'dns-table.json');
  const readyFile = path.join(dir, 'dns-ready');
  writeFileSync(tableFile, `${JSON.stringify(clusterDnsTable(plan, cluster, configDir), null, 2)}\n`, { mode: 0o644 });
  const proc = await startLabProcess(state, logDir, {
    name: `${cluster.name}/cluster-dns`,
    netns: cluster.netns,
    argv: [
      ...nodeEntry('cluster-dns-server', import.meta.url),
      '--listen',
      `${cluster.dnsAddress}:${CLUSTER_DNS_PORT}`,
      '--table',
      tableFile,
      '--ready-file',
      readyFile,
    ],
  });
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; !existsSync(readyFile); attempt++) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new Error(
        `cluster DNS of ${cluster.name} exited (${proc.child.exitCode ?? proc.child.signalCode}); see ${proc.logFile}:\n${tailOf(proc.logFile)}`,
      );
    }
    if (Date.now() > deadline) throw new Error(`cluster DNS of ${cluster.name}: not ready after ${timeoutMs} ms; see ${proc.logFile}`);
    await new Promise((r) => setTimeout(r, Math.min(50 * (attempt + 1), 300)));
  }
  return proc;
}

function tailOf(file: string): string {
  try {
    return readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .slice(-10)
      .map((l) => `    ${l}`)
      .join('\n');
  } catch (err) {
    // The log may not exist if the process never started; the caller's message says where to look.
    return `    (no log: ${(err as Error).message})`;
  }
}
