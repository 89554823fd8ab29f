// The control-plane benchmark's mesh: N external services, each a ServiceEntry with a DestinationRule
// (TLS origination, connection pool) and a VirtualService (TCP route), spread over ten namespaces, one
// file per service so that a one-object change is one file written. Pure text generation plus a writer.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';

export const BENCH_NAMESPACES = 10;

export function serviceHost(i: number): string {
  return `svc-${String(i).padStart(4, '0')}.bench.example`;
}

function namespaceOf(i: number): string {
  return `bench-${i % BENCH_NAMESPACES}`;
}

/** The three objects of service `i`; `revision` changes the DestinationRule (the one-object change). */
export function serviceObjects(i: number, revision = 0): object[] {
  const host = serviceHost(i);
  const name = `svc-${String(i).padStart(4, '0')}`;
  const namespace = namespaceOf(i);
  return [
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name, namespace },
      spec: {
        hosts: [host],
        location: 'MESH_EXTERNAL',
        ports: [
          { number: 3306, name: 'tcp-db', protocol: 'TCP' },
          { number: 443, name: 'tls', protocol: 'TLS' },
        ],
        resolution: 'STATIC',
        endpoints: [{ address: `10.${10 + Math.floor(i / 250)}.${i % 250}.${1 + (i % 7)}` }],
      },
    },
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name, namespace },
      spec: {
        host,
        trafficPolicy: {
          connectionPool: { tcp: { maxConnections: 100 + revision, connectTimeout: '5s' } },
          portLevelSettings: [{ port: { number: 443 }, tls: { mode: 'SIMPLE', sni: host } }],
        },
      },
    },
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name, namespace },
      spec: {
        hosts: [host],
        tcp: [{ match: [{ port: 3306 }], route: [{ destination: { host, port: { number: 3306 } } }] }],
      },
    },
  ];
}

export function serviceYaml(i: number, revision = 0): string {
  return serviceObjects(i, revision)
    .map((o) => `---\n${stringify(o)}`)
    .join('');
}

export function serviceFile(dir: string, i: number): string {
  return path.join(dir, `svc-${String(i).padStart(4, '0')}.yaml`);
}

/** Writes `count` services into `dir` (one file each). */
export async function writeMeshConfig(dir: string, count: number): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const file = serviceFile(dir, i);
    await writeFile(file, serviceYaml(i));
    files.push(file);
  }
  return files;
}

/** Pod objects for the simulated proxies (as the lab writes them), so the control plane knows each workload. */
export function simulatedPodsYaml(
  nodes: { podName: string; namespace: string; ips: string[]; labels: Record<string, string>; serviceAccount: string }[],
): string {
  return nodes
    .map(
      (n) =>
        `---\n${stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name: n.podName,
            namespace: n.namespace,
            labels: n.labels,
            annotations: { 'sidecar.istio.io/status': JSON.stringify({ containers: ['istio-proxy'], initContainers: ['istio-init'] }) },
          },
          spec: { serviceAccountName: n.serviceAccount, containers: [{ name: 'app' }] },
          status: { phase: 'Running', podIP: n.ips[0], podIPs: [{ ip: n.ips[0] }] },
        })}`,
    )
    .join('');
}
