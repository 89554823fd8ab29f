// Cluster A of the seed scenario as a control plane serves it: the committed example
// (examples/mysql-cross-cluster/cluster-a: the seed's YAML, the egress Gateway and the Service patch)
// plus what a live cluster would hold — the egress gateway's `client-credential` (issued here by a
// throwaway root R) and the two pods.
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { issueCertificate } from '../../src/pki/certificate.js';
import { generateKeyPair } from '../../src/pki/keys.js';
import { TokenIssuer } from '../../src/pki/workload-token.js';
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from '../../src/controlplane/control-plane.js';
import { jsonLogger } from '../../src/shared/log.js';
import { repoRoot } from '../repo-root.js';

export async function writeClusterAConfig(configDir: string): Promise<void> {
  await cp(path.join(repoRoot(), 'examples', 'mysql-cross-cluster', 'cluster-a'), path.join(configDir, 'example'), { recursive: true });
  const rootKeys = await generateKeyPair('ec-p256');
  const rootPem = await issueCertificate({
    subject: 'CN=Root CA R (test)',
    publicKeyPem: rootKeys.publicKeyPem,
    issuer: 'self',
    selfPrivateKeyPem: rootKeys.privateKeyPem,
    isCa: true,
    ttlSeconds: 3600,
  });
  const clientKeys = await generateKeyPair('ec-p256');
  const clientPem = await issueCertificate({
    subject: 'CN=client.mysql.fqdn.example',
    publicKeyPem: clientKeys.publicKeyPem,
    issuer: { certPem: rootPem, privateKeyPem: rootKeys.privateKeyPem },
    usage: 'client',
    dns: ['mysql.fqdn.example'],
    ttlSeconds: 3600,
  });
  const docs = [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'client-credential', namespace: 'istio-system' },
      type: 'generic',
      stringData: { 'tls.crt': clientPem, 'tls.key': clientKeys.privateKeyPem, 'ca.crt': rootPem },
    },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'mysql-client-7d9f6c',
        namespace: 'default',
        labels: { app: 'mysql-client' },
        annotations: { 'sidecar.istio.io/status': '{"containers":["istio-proxy"]}' },
      },
      spec: { serviceAccountName: 'mysql-client', containers: [{ name: 'mysql-client' }] },
      status: { phase: 'Running', podIP: '10.10.0.5' },
    },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'istio-egressgateway-5f7b8c',
        namespace: 'istio-system',
        labels: { app: 'istio-egressgateway', istio: 'egressgateway', 'security.istio.io/tlsMode': 'istio' },
      },
      spec: {
        serviceAccountName: 'istio-egressgateway-service-account',
        containers: [{ name: 'istio-proxy', ports: [{ containerPort: 15443 }] }],
      },
      status: { phase: 'Running', podIP: '10.10.0.20' },
    },
  ];
  await writeFile(path.join(configDir, 'cluster-state.yaml'), docs.map((d) => stringify(d)).join('---\n'));
}

export const SEED_TOKEN_ISSUER = 'https://kubernetes.default.svc.cluster.local';

export interface SeedControlPlane {
  cp: ControlPlane;
  tokens: TokenIssuer;
  configDir: string;
  /** The control plane's JSON log lines. */
  logs: string[];
}

/**
 * A real control plane serving cluster A of the seed from a temporary folder, with a token issuer
 * whose public key it trusts; `prepare` may add files to the config folder before it starts. Closed
 * and removed after the test.
 */
export async function startSeedControlPlane(
  t: { after(fn: () => Promise<void> | void): void },
  opts: Partial<ControlPlaneOptions> & { prepare?: (configDir: string) => Promise<void> } = {},
): Promise<SeedControlPlane> {
  const { prepare, ...options } = opts;
  const work = await mkdtemp(path.join(tmpdir(), 'meshgate-cp-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const configDir = path.join(work, 'config');
  await writeClusterAConfig(configDir);
  await prepare?.(configDir);
  const tokens = await TokenIssuer.create(SEED_TOKEN_ISSUER);
  const keyFile = path.join(work, 'token-issuer.pub');
  await writeFile(keyFile, tokens.publicKeyPem());
  const logs: string[] = [];
  const cp = await startControlPlane({
    configDir,
    clusterId: 'cluster-a',
    trustDomain: 'cluster.local',
    listen: '127.0.0.1:0',
    httpListen: '127.0.0.1:0',
    stateDir: path.join(work, 'state'),
    tokenPublicKeyFiles: [keyFile],
    tokenIssuer: SEED_TOKEN_ISSUER,
    debounceMs: 50,
    logger: jsonLogger({ scope: 'cp', write: (l) => logs.push(l) }),
    ...options,
  });
  t.after(() => cp.close());
  return { cp, tokens, configDir, logs };
}
