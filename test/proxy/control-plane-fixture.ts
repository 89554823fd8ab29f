// A control plane in the test process, shaped like istiod: the CA service and ADS on one gRPC server
// over TLS, with a mesh CA and a token issuer whose tokens the CA and ADS accept.
import * as grpc from '@grpc/grpc-js';
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
