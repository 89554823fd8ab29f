// A real ADS server on 127.0.0.1 over TLS with a mesh CA, workload certificates and tokens from src/pki,
// and helpers to wait for client events with a bound on time.
import * as grpc from '@grpc/grpc-js';
import type { EventEmitter } from 'node:events';
import { MeshCA } from '../../src/pki/mesh-ca.js';
import { createCsr } from '../../src/pki/certificate.js';
import { generateKeyPair } from '../../src/pki/keys.js';
import { TokenIssuer, TokenVerifier } from '../../src/pki/workload-token.js';
import { AdsServer } from '../../src/xds/server/ads-server.js';
import { SnapshotCache } from '../../src/xds/snapshot-cache.js';
import { makeAuthenticator, type PeerIdentity } from '../../src/xds/peer-identity.js';
import { createXdsServerCredentials } from '../../src/xds/server-credentials.js';
import { formatNodeId, type ProxyNode } from '../../src/envoy/node.js';
import type { ProxyRole } from '../../src/envoy/node.js';
import type { NodeBindingOptions } from '../../src/xds/server/node-binding.js';

export const TRUST_DOMAIN = 'cluster.local';
export const ISSUER = 'https://kubernetes.default.svc.cluster.local';

export interface Harness {
  ca: MeshCA;
  tokens: TokenIssuer;
  cache: SnapshotCache;
  ads: AdsServer;
  server: grpc.Server;
  address: string;
  rootPem: string;
  close(): Promise<void>;
}

export async function startHarness(
  opts: {
    authorizeResource?: (node: ProxyNode, peer: PeerIdentity, typeUrl: string, name: string) => boolean;
    port?: number;
    ca?: MeshCA;
    tokens?: TokenIssuer;
    maxInFlightBytes?: number;
    inFlightTimeoutMs?: number;
    maxDeltaResponseBytes?: number;
    authorizedTypes?: string[];
    nodeBinding?: NodeBindingOptions;
  } = {},
): Promise<Harness> {
  const ca = opts.ca ?? (await MeshCA.createSelfSigned({ trustDomain: TRUST_DOMAIN }));
  const tokens = opts.tokens ?? (await TokenIssuer.create(ISSUER));
  const verifier = new TokenVerifier([tokens.publicKeyPem()], { issuer: ISSUER });
  const serving = await ca.issueServingCertificate(['istiod.istio-system.svc'], 3600);
  const cache = new SnapshotCache();
  const ads = new AdsServer({
    cache,
    authenticate: makeAuthenticator({ trustDomains: [TRUST_DOMAIN], verifyToken: (t) => verifier.verify(t) }),
    ...(opts.authorizeResource ? { authorizeResource: opts.authorizeResource } : {}),
    controlPlaneId: 'meshgate-test',
    ...(opts.maxInFlightBytes !== undefined ? { maxInFlightBytes: opts.maxInFlightBytes } : {}),
    ...(opts.inFlightTimeoutMs !== undefined ? { inFlightTimeoutMs: opts.inFlightTimeoutMs } : {}),
    ...(opts.maxDeltaResponseBytes !== undefined ? { maxDeltaResponseBytes: opts.maxDeltaResponseBytes } : {}),
    ...(opts.authorizedTypes !== undefined ? { authorizedTypes: opts.authorizedTypes } : {}),
    ...(opts.nodeBinding !== undefined ? { nodeBinding: opts.nodeBinding } : {}),
  });
  const server = new grpc.Server();
  ads.addToServer(server);
  const creds = createXdsServerCredentials({ rootPem: ca.rootBundlePem(), ...serving });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${opts.port ?? 0}`, creds.credentials, (err, p) => (err ? reject(err) : resolve(p)));
  });
  return {
    ca,
    tokens,
    cache,
    ads,
    server,
    address: `127.0.0.1:${port}`,
    rootPem: ca.rootBundlePem(),
    close: async () => {
      ads.closeAllStreams();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      server.forceShutdown();
    },
  };
}

export function testNode(
  name: string,
  namespace: string,
  serviceAccount: string,
  role: ProxyRole = 'sidecar',
  ip = '127.0.0.1',
): ProxyNode {
  const n = { role, ips: [ip], podName: name, namespace, domainSuffix: 'cluster.local' };
  return { ...n, id: formatNodeId(n), serviceAccount, labels: { app: name }, clusterId: 'cluster-a' };
}

/** A workload certificate for namespace/serviceAccount signed by the harness CA. */
export async function workloadCert(
  ca: MeshCA,
  namespace: string,
  serviceAccount: string,
): Promise<{ certChainPem: string; privateKeyPem: string }> {
  const keys = await generateKeyPair('ec-p256');
  const csr = await createCsr({ privateKeyPem: keys.privateKeyPem });
  const chain = await ca.signWorkloadCsr(csr, { namespace, serviceAccount }, 3600);
  return { certChainPem: chain.slice(0, -1).join(''), privateKeyPem: keys.privateKeyPem };
}

/** Resolves with the first event `name` whose payload satisfies `match`, or rejects after `ms`. */
export function waitFor<T = unknown>(
  emitter: EventEmitter,
  name: string,
  match: (payload: T) => boolean = () => true,
  ms = 10_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(name, on);
      reject(new Error(`timed out after ${ms} ms waiting for "${name}"`));
    }, ms);
    const on = (p: T): void => {
      if (!match(p)) return;
      clearTimeout(timer);
      emitter.off(name, on);
      resolve(p);
    };
    emitter.on(name, on);
  });
}

/** Polls `cond` every 20 ms until true, at most `ms`. */
export async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
