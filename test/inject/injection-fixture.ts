// What the injection tests share: the seed's client Pod as the API server sends it, the settings the
// control plane injects with, and an AdmissionReview POSTed over real HTTPS verified against the mesh root.
import https from 'node:https';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { Pod } from '../../src/inject/pod.js';
import type { InjectionSettings } from '../../src/inject/sidecar-injection.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// Fixtures live beside the sources; compiled tests run from dist/test/inject.
const fixtures = here.includes(`${path.sep}dist${path.sep}`)
  ? path.resolve(here, '../../../test/inject/fixtures')
  : path.join(here, 'fixtures');

export function clientPod(): Pod {
  return parseYaml(readFileSync(path.join(fixtures, 'mysql-client-pod.yaml'), 'utf8')) as Pod;
}

export const SETTINGS: InjectionSettings = {
  image: 'meshgate:0.1.0',
  discoveryAddress: 'istiod.istio-system.svc:15012',
  trustDomain: 'cluster-a.local',
  clusterId: 'cluster-a',
};

export function review(pod: unknown, uid = 'c4a8e6a2-7d51-4e8e-9f3b-2a1d0e9c8b7a', extra: Record<string, unknown> = {}): unknown {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'default',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object: pod,
      dryRun: false,
      ...extra,
    },
  };
}

/** POST to https://address/inject as the API server does: TLS verified against `caPem` for `servername`. */
export function postReview(
  address: string,
  caPem: string,
  body: unknown,
  opts: { servername?: string; path?: string; contentType?: string } = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    const req = https.request(
      {
        host: address.slice(0, i),
        port: Number(address.slice(i + 1)),
        method: 'POST',
        path: opts.path ?? '/inject?timeout=10s',
        ca: caPem,
        servername: opts.servername ?? 'istiod.istio-system.svc',
        headers: { 'content-type': opts.contentType ?? 'application/json', 'content-length': Buffer.byteLength(text) },
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(data) as Record<string, unknown> }));
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}
