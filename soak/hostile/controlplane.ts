// A control plane for the soak's xDS, config and CA checks: the example's cluster-A config (plus the
// egress gateway's R-signed credential as a Secret) in a temp folder, a workload-token issuer the soak
// holds, and the control plane itself in a child process (controlplane-target.ts). Raw ADS streams let
// the attacks send exactly the bytes they want.
import * as grpc from '@grpc/grpc-js';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { createBenchCa, issueBenchLeaf } from '../../bench/certs.js';
import { ProcessGroup, type BenchProcess } from '../../bench/processes.js';
import { TokenIssuer } from '../../src/pki/workload-token.js';
import {
  ADS_METHOD_PATH,
  decodeDiscoveryResponse,
  encodeDiscoveryRequest,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from '../../src/xds/discovery.js';
import { formatNodeId, type ProxyNode } from '../../src/envoy/node.js';
import { proxyNodeToMessage } from '../../src/xds/node-message.js';
import { soakScript, startJsonReady } from '../child.js';
import { packageRoot } from '../../src/shared/package-root.js';

export const TOKEN_ISSUER = 'https://kubernetes.default.svc/soak';
export const XDS_SERVER_NAME = 'istiod.istio-system.svc';
export const EGRESS_CREDENTIAL = 'client-credential';

export interface ControlPlaneTarget {
  address: string;
  httpAddress: string;
  rootCertPem: string;
  configDir: string;
  stateDir: string;
  logFile: string;
  tokens: TokenIssuer;
  proc: BenchProcess;
  /** The private keys the soak wrote or the control plane holds (to search logs for). */
  secretsToNeverLog: string[];
  stop(): Promise<void>;
}

export function sidecarNode(namespace = 'default', serviceAccount = 'client', podName = 'client-5d8f7'): ProxyNode {
  const n = {
    role: 'sidecar' as const,
    ips: ['127.0.0.1'],
    podName,
    namespace,
    serviceAccount,
    labels: { app: serviceAccount },
    clusterId: 'cluster-a',
    domainSuffix: 'cluster.local',
    interceptionMode: 'NONE' as const,
  };
  return { ...n, id: formatNodeId(n) };
}

export function egressGatewayNode(): ProxyNode {
  const n = {
    role: 'router' as const,
    ips: ['127.0.0.2'],
    podName: 'istio-egressgateway-6c9d8',
    namespace: 'istio-system',
    serviceAccount: 'istio-egressgateway-service-account',
    labels: { app: 'istio-egressgateway', istio: 'egressgateway' },
    clusterId: 'cluster-a',
    domainSuffix: 'cluster.local',
  };
  return { ...n, id: formatNodeId(n) };
}

export async function startControlPlaneTarget(): Promise<ControlPlaneTarget> {
  const work = await mkdtemp(path.join(tmpdir(), 'meshgate-soak-cp-'));
  const group = new ProcessGroup();
  try {
    const configDir = path.join(work, 'config');
    const stateDir = path.join(work, 'state');
    await cp(path.join(packageRoot(), 'examples', 'mysql-cross-cluster', 'cluster-a'), path.join(configDir, 'cluster-a'), {
      recursive: true,
    });
    // The egress gateway's credential, as an operator would apply it (Istio's tls.crt/tls.key/ca.crt form).
    const root = await createBenchCa('soak root R');
    const leaf = await issueBenchLeaf(root, { commonName: 'mysql-client', dns: ['mysql-client.example'], usage: 'client' });
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    await writeFile(
      path.join(configDir, 'credential.yaml'),
      stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: EGRESS_CREDENTIAL, namespace: 'istio-system' },
        type: 'Opaque',
        data: { 'tls.crt': b64(leaf.certPem), 'tls.key': b64(leaf.keyPem), 'ca.crt': b64(root.certPem) },
      }),
      { mode: 0o600 },
    );
    // The egress gateway's Pod, as a live cluster has it: its service account is what may hold the credential.
    const gw = egressGatewayNode();
    await writeFile(
      path.join(configDir, 'egress-gateway-pod.yaml'),
      stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: gw.podName, namespace: gw.namespace, labels: gw.labels },
        spec: { serviceAccountName: gw.serviceAccount, containers: [{ name: 'istio-proxy' }] },
        status: { phase: 'Running', podIP: gw.ips[0] },
      }),
    );
    const tokens = await TokenIssuer.create(TOKEN_ISSUER);
    const keyFile = path.join(work, 'token-signing-key.pub.pem');
    await writeFile(keyFile, tokens.publicKeyPem());
    const logFile = path.join(work, 'control-plane.log');
    const { proc, ready } = await startJsonReady<{ address: string; httpAddress: string; rootCertFile: string }>(group, 'control plane', [
      ...soakScript('hostile/controlplane-target'),
      configDir,
      stateDir,
      keyFile,
      TOKEN_ISSUER,
      logFile,
    ]);
    return {
      address: ready.address,
      httpAddress: ready.httpAddress,
      rootCertPem: await readFile(ready.rootCertFile, 'utf8'),
      configDir,
      stateDir,
      logFile,
      tokens,
      proc,
      secretsToNeverLog: [leaf.keyPem, root.keyPem, tokens.privateKeyPem()],
      async stop(): Promise<void> {
        await group.stopAll();
        await rm(work, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await group.stopAll();
    await rm(work, { recursive: true, force: true });
    throw err;
  }
}

export interface RawStreamOptions {
  token?: string;
  /** A client certificate for mutual TLS. */
  cert?: { certPem: string; keyPem: string };
  /** Sends raw bytes instead of encoding DiscoveryRequests. */
  raw?: boolean;
}

export interface RawStream {
  send(req: DiscoveryRequest | Buffer): void;
  responses: DiscoveryResponse[];
  /** Resolves with the gRPC status the stream ended with. */
  ended: Promise<{ code: grpc.status; details: string }>;
  isEnded(): boolean;
  /** Resolves with the next response, or undefined after `ms` or when the stream ends. */
  nextResponse(ms: number): Promise<DiscoveryResponse | undefined>;
  close(): void;
}

/** An ADS stream over TLS verified against the mesh root, with the given credentials (or none). */
export function openRawStream(t: Pick<ControlPlaneTarget, 'address' | 'rootCertPem'>, o: RawStreamOptions = {}): RawStream {
  const creds = o.cert
    ? grpc.credentials.createSsl(Buffer.from(t.rootCertPem), Buffer.from(o.cert.keyPem), Buffer.from(o.cert.certPem))
    : grpc.credentials.createSsl(Buffer.from(t.rootCertPem));
  const client = new grpc.Client(t.address, creds, {
    'grpc.ssl_target_name_override': XDS_SERVER_NAME,
    'grpc.default_authority': XDS_SERVER_NAME,
  });
  const md = new grpc.Metadata();
  if (o.token !== undefined) md.set('authorization', `Bearer ${o.token}`);
  const serialize = (x: DiscoveryRequest | Buffer): Buffer => (Buffer.isBuffer(x) ? x : encodeDiscoveryRequest(x));
  const call = client.makeBidiStreamRequest<DiscoveryRequest | Buffer, DiscoveryResponse>(
    ADS_METHOD_PATH,
    serialize,
    decodeDiscoveryResponse,
    md,
    {},
  );
  const responses: DiscoveryResponse[] = [];
  const waiters: ((r: DiscoveryResponse | undefined) => void)[] = [];
  let ended = false;
  const endedP = new Promise<{ code: grpc.status; details: string }>((resolve) => {
    call.on('status', (s: grpc.StatusObject) => {
      ended = true;
      for (const w of waiters.splice(0)) w(undefined);
      resolve({ code: s.code, details: s.details });
    });
  });
  call.on('error', () => undefined); // the same failure arrives as 'status', which is what the attacks read
  call.on('data', (r: DiscoveryResponse) => {
    responses.push(r);
    const w = waiters.shift();
    if (w) w(r);
  });
  return {
    send: (req) => {
      if (!ended) call.write(o.raw && !Buffer.isBuffer(req) ? encodeDiscoveryRequest(req) : req);
    },
    responses,
    ended: endedP,
    isEnded: () => ended,
    nextResponse: (ms) =>
      new Promise((resolve) => {
        if (ended) return resolve(undefined);
        const timer = setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) waiters.splice(i, 1);
          resolve(undefined);
        }, ms);
        const w = (r: DiscoveryResponse | undefined): void => {
          clearTimeout(timer);
          resolve(r);
        };
        waiters.push(w);
      }),
    close: () => {
      call.cancel();
      client.close();
    },
  };
}

export function discoveryRequest(
  node: ProxyNode | undefined,
  typeUrl: string,
  names: string[] = [],
  nonce = '',
  version = '',
): DiscoveryRequest {
  return { versionInfo: version, resourceNames: names, typeUrl, responseNonce: nonce, ...(node ? { node: proxyNodeToMessage(node) } : {}) };
}

/** Whether the control plane still answers /ready (it is alive and serving). */
export async function controlPlaneReady(t: Pick<ControlPlaneTarget, 'httpAddress'>): Promise<boolean> {
  try {
    const r = await fetch(`http://${t.httpAddress}/ready`, { signal: AbortSignal.timeout(3000) });
    await r.arrayBuffer();
    return r.ok;
  } catch {
    return false; // not answering is the answer
  }
}
