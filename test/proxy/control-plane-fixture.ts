// A control plane in the test process, shaped like istiod: the CA service and ADS on one gRPC server
// over TLS, with a mesh CA and a token issuer whose tokens the CA and ADS accept.
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { formatNodeId } from '../../src/envoy/node.js';
import { MeshCA } from '../../src/pki/mesh-ca.js';
import { TokenIssuer, TokenVerifier } from '../../src/pki/workload-token.js';
import { addCertificateService } from '../../src/pki/ca-service.js';
import { AdsServer } from '../../src/xds/server/ads-server.js';
import { SnapshotCache } from '../../src/xds/snapshot-cache.js';
import { makeAuthenticator } from '../../src/xds/peer-identity.js';
import { createXdsServerCredentials } from '../../src/xds/server-credentials.js';

const ISSUER = 'https://kubernetes.default.svc.cluster.local';

export async function startControlPlane(t: { after(fn: () => Promise<void> | void): void }) {
  const ca = await MeshCA.createSelfSigned({ trustDomain: 'cluster.local' });
  const tokens = await TokenIssuer.create(ISSUER);
  const verifier = new TokenVerifier([tokens.publicKeyPem()], { issuer: ISSUER });
  const serving = await ca.issueServingCertificate(['istiod.istio-system.svc'], 3600);
  const cache = new SnapshotCache();
  const ads = new AdsServer({
    cache,
    authenticate: makeAuthenticator({ trustDomains: ['cluster.local'], verifyToken: (tok) => verifier.verify(tok) }),
    controlPlaneId: 'meshgate-test',
  });
  const server = new grpc.Server();
  ads.addToServer(server);
  addCertificateService(server, { ca, verifier });
  const creds = createXdsServerCredentials({ rootPem: ca.rootBundlePem(), ...serving });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', creds.credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  t.after(async () => {
    ads.closeAllStreams();
    await new Promise<void>((r) => server.tryShutdown(() => r()));
    server.forceShutdown();
  });
  return { ca, tokens, cache, ads, address: `127.0.0.1:${port}` };
}

/**
 * A sidecar's files for `meshgate proxy --bootstrap`, in a temporary folder removed after the test: the
 * control plane's root, a workload token for `namespace/serviceAccount` and a bootstrap naming the node
 * (`extra` adds bootstrap fields). Returns the folder, the node id and the bootstrap's path.
 */
export async function writeSidecarBootstrap(
  t: { after(fn: () => Promise<void> | void): void },
  cp: Awaited<ReturnType<typeof startControlPlane>>,
  opts: { podName: string; namespace: string; serviceAccount: string; prefix: string; extra?: Record<string, unknown> },
): Promise<{ dir: string; id: string; bootstrap: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), opts.prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'root-cert.pem'), cp.ca.rootBundlePem());
  writeFileSync(
    path.join(dir, 'token'),
    await cp.tokens.mint({ namespace: opts.namespace, serviceAccount: opts.serviceAccount, ttlSeconds: 600 }),
  );
  const n = {
    role: 'sidecar' as const,
    ips: ['127.0.0.1'],
    podName: opts.podName,
    namespace: opts.namespace,
    domainSuffix: 'cluster.local',
  };
  const id = formatNodeId(n);
  const bootstrap = path.join(dir, 'bootstrap.json');
  writeFileSync(
    bootstrap,
    JSON.stringify({
      node: { ...n, id, serviceAccount: opts.serviceAccount, labels: { app: opts.serviceAccount }, clusterId: 'cluster-a' },
      discoveryAddress: cp.address,
      rootCertFile: 'root-cert.pem',
      tokenFile: 'token',
      trustDomain: 'cluster.local',
      admin: { address: '127.0.0.1', port: 0 },
      drainTimeoutSeconds: 20,
      ...opts.extra,
    }),
  );
  return { dir, id, bootstrap };
}
