// Reading the proxy's bootstrap file (JSON or YAML): parsed at the edge, every required field checked
// with the field named, relative paths resolved against the file's folder.
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { ProxyBootstrap } from './bootstrap-types.js';
import { connectionLimitSettingsError } from './connection-limits.js';
import { BootstrapError } from './errors.js';
import { formatNodeId } from '../envoy/node.js';

function str(o: Record<string, unknown>, k: string, file: string, where = ''): string {
  const v = o[k];
  if (typeof v !== 'string' || v === '') throw new BootstrapError(file, `${where}${k}: required, a non-empty string`);
  return v;
}

export async function loadBootstrap(file: string): Promise<ProxyBootstrap> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new BootstrapError(file, `cannot read: ${(err as Error).message}`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new BootstrapError(file, `not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`, { cause: err });
  }
  if (!doc || typeof doc !== 'object') throw new BootstrapError(file, 'must be an object');
  const o = doc as Record<string, unknown>;
  const node = o.node as Record<string, unknown> | undefined;
  if (!node || typeof node !== 'object') throw new BootstrapError(file, 'node: required');
  const role = node.role;
  if (role !== 'sidecar' && role !== 'router')
    throw new BootstrapError(file, `node.role: must be "sidecar" or "router", got ${JSON.stringify(role)}`);
  const ips = node.ips;
  if (!Array.isArray(ips) || ips.length === 0 || ips.some((x) => typeof x !== 'string'))
    throw new BootstrapError(file, 'node.ips: required, a non-empty list of addresses');
  const dir = path.dirname(path.resolve(file));
  const abs = (p: string): string => (path.isAbsolute(p) ? p : path.join(dir, p));
  const namespace = str(node, 'namespace', file, 'node.');
  const podName = str(node, 'podName', file, 'node.');
  const domainSuffix = typeof node.domainSuffix === 'string' ? node.domainSuffix : 'cluster.local';
  const b: ProxyBootstrap = {
    ...(o as unknown as ProxyBootstrap),
    node: {
      ...(node as unknown as ProxyBootstrap['node']),
      role,
      ips: ips as string[],
      namespace,
      podName,
      domainSuffix,
      serviceAccount: str(node, 'serviceAccount', file, 'node.'),
      labels: (node.labels as Record<string, string> | undefined) ?? {},
      clusterId: typeof node.clusterId === 'string' ? node.clusterId : 'Kubernetes',
      id:
        typeof node.id === 'string' && node.id !== ''
          ? node.id
          : formatNodeId({ role, ips: ips as string[], podName, namespace, domainSuffix }),
    },
    discoveryAddress: str(o, 'discoveryAddress', file),
    rootCertFile: abs(str(o, 'rootCertFile', file)),
    tokenFile: abs(str(o, 'tokenFile', file)),
    trustDomain: str(o, 'trustDomain', file),
  };
  if (b.accessLog?.path && b.accessLog.path !== '/dev/stdout') b.accessLog = { ...b.accessLog, path: abs(b.accessLog.path) };
  for (const k of ['certTtlSeconds', 'statsPort', 'readinessPort', 'drainTimeoutSeconds'] as const) {
    const v = b[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0))
      throw new BootstrapError(file, `${k}: must be a non-negative number`);
  }
  if (b.probeAddress !== undefined && (typeof b.probeAddress !== 'string' || net.isIP(b.probeAddress) === 0))
    throw new BootstrapError(file, 'probeAddress: must be an IP address (the pod IP, or 0.0.0.0)');
  if (b.dns !== undefined) checkDns(b.dns, file);
  const limitsError = connectionLimitSettingsError(b.connectionLimits);
  if (limitsError) throw new BootstrapError(file, limitsError);
  return b;
}

function checkDns(dns: unknown, file: string): void {
  if (!dns || typeof dns !== 'object' || Array.isArray(dns))
    throw new BootstrapError(file, 'dns: must be an object ({ port?, upstream? })');
  const d = dns as Record<string, unknown>;
  if (d.port !== undefined && (typeof d.port !== 'number' || !Number.isInteger(d.port) || d.port < 0 || d.port > 65535))
    throw new BootstrapError(file, 'dns.port: must be a port number (0-65535)');
  if (d.upstream !== undefined) {
    if (!Array.isArray(d.upstream) || d.upstream.some((u) => typeof u !== 'string'))
      throw new BootstrapError(file, 'dns.upstream: must be a list of "ip" or "ip:port" strings');
    for (const u of d.upstream as string[]) {
      try {
        parseDnsUpstream(u);
      } catch (err) {
        throw new BootstrapError(file, `dns.upstream: ${(err as Error).message}`, { cause: err });
      }
    }
  }
}

/** "ip", "ip:port" or "[ipv6]:port" → an endpoint (port 53 unless given). */
export function parseDnsUpstream(value: string): { address: string; port: number } {
  let address = value;
  let port = 53;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(value);
  if (bracket) {
    address = bracket[1]!;
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else if (net.isIP(value) === 0 && value.includes(':') && value.indexOf(':') === value.lastIndexOf(':')) {
    address = value.slice(0, value.indexOf(':'));
    port = Number(value.slice(value.indexOf(':') + 1));
  }
  if (net.isIP(address) === 0) throw new Error(`"${value}" is not an IP address (optionally with :port)`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`"${value}" has no valid port`);
  return { address, port };
}
