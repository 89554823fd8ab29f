// A kubeconfig file for one API server and one bearer token, as `kubectl config` would write it. It holds
// the token, so it is written 0600 through the private-file helper.
import { stringify } from 'yaml';
import { writePrivateFileSync } from '../pki/private-file.js';

export interface KubeconfigParams {
  server: string;
  caPem: string;
  token: string;
  clusterName?: string;
}

export function kubeconfigText(p: KubeconfigParams): string {
  const name = p.clusterName ?? 'meshgate';
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server: p.server, 'certificate-authority-data': Buffer.from(p.caPem).toString('base64') } }],
    users: [{ name: `${name}-user`, user: { token: p.token } }],
    contexts: [{ name, context: { cluster: name, user: `${name}-user` } }],
    'current-context': name,
  });
}

export function writeKubeconfig(file: string, p: KubeconfigParams): void {
  writePrivateFileSync(file, kubeconfigText(p));
}
