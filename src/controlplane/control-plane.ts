// The control plane process (istiod's job): a config directory → ConfigStore (with Istio's default
// install objects) → per connected proxy the model's resources → consistency check → snapshot cache →
// ADS over TLS; the mesh CA's certificate service on the same gRPC port (istiod serves both on 15012);
// /ready, /metrics, /debug/syncz on the monitoring port (15014).
import * as grpc from '@grpc/grpc-js';
import { mkdir, access, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigStore } from '../config/store.js';
import { DirectorySource } from '../config/directory-source.js';
import { KubernetesSource } from '../kube/kubernetes-source.js';
import { defaultInstallResult, defaultMeshConfig } from '../config/default-install.js';
import { formatDiagnostic, type Diagnostic } from '../config/diagnostics.js';
import { proxyMayReadSecret } from '../model/secrets.js';
import { parseServiceAccountRef, type ModelOptions } from '../model/gateway-identity.js';
import { MeshCA } from '../pki/mesh-ca.js';
import { addCertificateService } from '../pki/ca-service.js';
import { writePrivateFile } from '../pki/private-file.js';
import { TokenVerifier } from '../pki/workload-token.js';
import { AdsServer } from '../xds/server/ads-server.js';
import { SnapshotCache } from '../xds/snapshot-cache.js';
import { makeAuthenticator, type PeerIdentity } from '../xds/peer-identity.js';
import { createXdsServerCredentials } from '../xds/server-credentials.js';
import { TypeUrl } from '../envoy/envoy-types.js';
import { redactSecrets } from '../xds/redact.js';
import { jsonLogger, type Logger } from '../shared/log.js';
import type { ProxyNode } from '../envoy/node.js';
import { ControlPlaneMetrics, shortType } from './metrics.js';
import { ProxyPusher } from './proxy-pusher.js';
import { startDebugServer, type DebugServer } from './debug-server.js';
import { xdsServerOptions, type XdsServerLimits } from './grpc-server-options.js';
import { buildSyncz, type ProxySync } from './sync-status.js';
import { startInjectionWebhook } from '../inject/webhook-server.js';
import { podClaimRefusal } from './node-claims.js';

export const DEFAULT_XDS_LISTEN = '127.0.0.1:15012';
export const DEFAULT_HTTP_LISTEN = '127.0.0.1:15014';
/** Names the serving certificate carries; proxies verify `istiod.istio-system.svc` as Istio's do. */
export const SERVING_DNS_NAMES = ['istiod.istio-system.svc', 'istiod.istio-system', 'istiod'];
const SERVING_TTL_SECONDS = 24 * 3600;

export interface ControlPlaneOptions {
  /** The folder of YAML/JSON to serve; or, with `kubeconfig`, none. */
  configDir?: string;
  /** Read config from this kubeconfig's API server through informers instead of a folder. */
  kubeconfig?: string;
  clusterId: string;
  trustDomain: string;
  /** host:port for xDS and the CA service; default 127.0.0.1:15012. */
  listen?: string;
  /** A `cacerts` folder (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem); else a self-signed root kept in stateDir/ca. */
  caDir?: string;
  stateDir: string;
  /** Public keys (PEM) that sign workload tokens; without any, only certificate-authenticated proxies connect and the CA is off. */
  tokenPublicKeyFiles: string[];
  tokenIssuer: string;
  /** host:port for /ready, /metrics, /debug/syncz; default 127.0.0.1:15014. */
  httpListen?: string;
  debounceMs?: number;
  /** Longest workload certificate the CA signs (Istio's MAX_WORKLOAD_CERT_TTL); default 24 h. */
  maxWorkloadCertTtlSeconds?: number;
  /**
   * `NAMESPACE/NAME` service accounts that may hold their namespace's gateway credentials besides those
   * the config shows running a Pod a Gateway selects (see model/gateway-identity.ts).
   */
  gatewayServiceAccounts?: string[];
  logger?: Logger;
  /**
   * The sidecar injection webhook (Istio: istiod's /inject on 15017): where it listens, the image it
   * injects, and the namespace of the `istiod` Service whose names its certificate carries.
   */
  injectionWebhook?: { listen: string; image: string; systemNamespace: string; revision?: string };
  /** The gRPC server's limits (defaults: DEFAULT_XDS_SERVER_LIMITS). */
  serverLimits?: Partial<XdsServerLimits>;
}

export class ControlPlaneError extends Error {
  readonly code = 'E_CONTROL_PLANE';
}

export interface ControlPlane {
  /** host:port the gRPC server (xDS + CA) is bound to. */
  address: string;
  /** host:port of /ready, /metrics, /debug/syncz. */
  httpAddress: string;
  /** host:port of the injection webhook (HTTPS, /inject), when started. */
  injectionWebhookAddress?: string;
  rootCertPem: string;
  rootCertFile: string;
  ca: MeshCA;
  store: ConfigStore;
  cache: SnapshotCache;
  ads: AdsServer;
  metrics: ControlPlaneMetrics;
  syncz(): ProxySync[];
  close(): Promise<void>;
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    // Absence is the answer being asked for.
    return false;
  }
}

function caOpts(opts: ControlPlaneOptions): { maxTtlSeconds?: number } {
  return opts.maxWorkloadCertTtlSeconds !== undefined ? { maxTtlSeconds: opts.maxWorkloadCertTtlSeconds } : {};
}

async function loadOrCreateCa(opts: ControlPlaneOptions, log: Logger): Promise<MeshCA> {
  if (opts.caDir) {
    const ca = await MeshCA.loadCacerts(opts.caDir, opts.trustDomain, caOpts(opts));
    log.info('mesh CA loaded from cacerts', { dir: opts.caDir, signer: ca.signingCertificate().subject });
    return ca;
  }
  const dir = path.join(opts.stateDir, 'ca');
  if (await exists(path.join(dir, 'ca-cert.pem'))) {
    const ca = await MeshCA.loadCacerts(dir, opts.trustDomain, caOpts(opts));
    log.info('mesh CA loaded from state', { dir, signer: ca.signingCertificate().subject });
    return ca;
  }
  const ca = await MeshCA.createSelfSigned({ trustDomain: opts.trustDomain, clusterId: opts.clusterId, ...caOpts(opts) });
  await ca.save(dir);
  log.info('self-signed mesh CA created', { dir, signer: ca.signingCertificate().subject });
  return ca;
}

function bind(server: grpc.Server, listen: string, creds: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(listen, creds, (err, port) =>
      err ? reject(new ControlPlaneError(`cannot listen on ${listen}: ${err.message}`, { cause: err })) : resolve(port),
    );
  });
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const log = opts.logger ?? jsonLogger({ scope: 'control-plane' });
  const cleanups: (() => Promise<void> | void)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) await c();
  };
  try {
    // Settings are checked before anything is created on disk.
    const model: ModelOptions = { gatewayServiceAccounts: new Set((opts.gatewayServiceAccounts ?? []).map(parseServiceAccountRef)) };
    if ((opts.configDir === undefined) === (opts.kubeconfig === undefined))
      throw new ControlPlaneError('give exactly one config source: a config folder or a kubeconfig');
    if (opts.configDir !== undefined) {
      // A mistyped --config would otherwise serve an empty mesh without a word.
      const dirStat = await stat(opts.configDir).catch((err: NodeJS.ErrnoException) => {
        throw new ControlPlaneError(`config folder ${opts.configDir} cannot be read: ${err.code ?? err.message}`, { cause: err });
      });
      if (!dirStat.isDirectory()) throw new ControlPlaneError(`config folder ${opts.configDir} is not a directory`);
    }
    await mkdir(opts.stateDir, { recursive: true, mode: 0o700 });
    const ca = await loadOrCreateCa(opts, log);
    const rootCertPem = ca.rootBundlePem();
    const rootCertFile = path.join(opts.stateDir, 'root-cert.pem');
    await writePrivateFile(rootCertFile, rootCertPem, { mode: 0o644 }); // temp name + rename: never through a planted symlink

    const metrics = new ControlPlaneMetrics();
    const mesh = { ...defaultMeshConfig(), trustDomain: opts.trustDomain };
    const store = new ConfigStore(mesh, {
      onListenerError: (err) => log.error('config subscriber failed', { error: (err as Error).message }),
    });
    // From a folder, what Istio's install puts in a cluster is added; an API server holds it itself.
    if (opts.kubeconfig === undefined) store.setSource('default-install', defaultInstallResult(mesh));
    metrics.configVersion.set(store.snapshot().version);

    const cache = new SnapshotCache();
    const pusher = new ProxyPusher({ config: () => store.snapshot(), cache, log, metrics, debounceMs: opts.debounceMs ?? 100, model });
    cleanups.push(() => pusher.close());
    cleanups.push(
      store.subscribe((snap, changed) => {
        metrics.configVersion.set(snap.version);
        log.info('config changed', { version: snap.version, changed: [...changed].slice(0, 20), changedCount: changed.size });
        pusher.configChanged(changed);
      }),
    );

    const publicKeys = opts.tokenPublicKeyFiles.map((f) => readFileSync(f, 'utf8'));
    const verifier = publicKeys.length > 0 ? new TokenVerifier(publicKeys, { issuer: opts.tokenIssuer }) : undefined;
    if (!verifier) log.warn('no token public keys given: only proxies with a mesh certificate can connect, and the CA service is off');

    const ads = new AdsServer({
      cache,
      controlPlaneId: `meshgate-${opts.clusterId}`,
      logger: log,
      authenticate: makeAuthenticator({
        trustDomains: [opts.trustDomain],
        ...(verifier ? { verifyToken: (t: string) => verifier.verify(t) } : {}),
      }),
      // Gateway credentials by the proven identity, never the node's claims.
      authorizeResource: (node: ProxyNode, peer: PeerIdentity, _typeUrl: string, name: string) =>
        proxyMayReadSecret(store.snapshot(), node, peer, name, model),
      authorizedTypes: [TypeUrl.Secret],
      // A node naming a known pod must prove that pod's service account (no pre-claiming its node id).
      verifyNode: (node: ProxyNode, peer: PeerIdentity) => podClaimRefusal(store.snapshot(), node, peer.serviceAccount),
      // Each stream's config is built from its own node (see proxy-pusher.ts).
      snapshotKey: 'connection',
    });
    ads.on('connected', (e: { connectionId: string; node: ProxyNode }) => {
      metrics.connected.inc({ version: e.node.version ?? 'unknown' });
      if (e.node.clusterId !== opts.clusterId)
        log.warn('proxy from another cluster connected', { node: e.node.id, proxyCluster: e.node.clusterId, cluster: opts.clusterId });
      pusher.connected(e.connectionId, e.node);
    });
    ads.on('disconnected', (e: { connectionId: string; node: ProxyNode }) => {
      metrics.connected.dec({ version: e.node.version ?? 'unknown' });
      pusher.disconnected(e.connectionId);
    });
    ads.on('push', (e: { typeUrl: string }) => metrics.pushes.inc({ type: shortType(e.typeUrl) }));
    ads.on('nack', (e: { node: ProxyNode; typeUrl: string; errorDetail: { message: string } }) =>
      metrics.reject(e.typeUrl, e.node.id, e.errorDetail.message),
    );
    ads.on('unauthenticated', () => metrics.unauthenticated.inc());
    ads.on('denied', (e: { typeUrl: string }) => metrics.deniedResources.inc({ type: shortType(e.typeUrl) }));

    const serving = await ca.issueServingCertificate(SERVING_DNS_NAMES, SERVING_TTL_SECONDS);
    const tls = createXdsServerCredentials({ rootPem: rootCertPem, ...serving });
    // Renew the serving certificate at half its life; new handshakes get the new one, streams stay up.
    const renew = setInterval(
      () => {
        ca.issueServingCertificate(SERVING_DNS_NAMES, SERVING_TTL_SECONDS).then(
          (next) => {
            tls.update(next);
            log.info('serving certificate renewed');
          },
          (err: unknown) => log.error('serving certificate renewal failed', { error: (err as Error).message }),
        );
      },
      (SERVING_TTL_SECONDS / 2) * 1000,
    );
    renew.unref();
    cleanups.push(() => clearInterval(renew));

    // Streams per connection, message size, idle connections, keepalive pings: grpc-server-options.ts.
    const server = new grpc.Server(xdsServerOptions(opts.serverLimits));
    ads.addToServer(server);
    if (verifier) {
      addCertificateService(server, { ca, verifier, log: (entry) => log.info('ca', entry as Record<string, unknown>) });
    }
    const listen = opts.listen ?? DEFAULT_XDS_LISTEN;
    const port = await bind(server, listen, tls.credentials);
    const address = `${listen.slice(0, listen.lastIndexOf(':'))}:${port}`;
    cleanups.push(async () => {
      ads.closeAllStreams();
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
    });

    let configLoaded = false;
    const onDiagnostics = (diags: Diagnostic[]): void => {
      for (const d of diags) {
        metrics.configDiagnostics.inc({ level: d.level });
        const line = formatDiagnostic(d);
        if (d.level === 'Error') log.error('config invalid; the last valid version stays in force', { diagnostic: line, code: d.code });
        else if (d.level === 'Warning') log.warn('config warning', { diagnostic: line, code: d.code });
        else log.info('config note', { diagnostic: line, code: d.code });
      }
    };
    const source =
      opts.kubeconfig !== undefined
        ? new KubernetesSource({
            kubeconfig: opts.kubeconfig,
            store,
            onDiagnostics,
            reportEvents: true,
            onList: (p) => {
              metrics.kubeLists.inc({ path: p });
              log.info('kubernetes list', { path: p });
            },
            onWatchError: (p, err, retryInMs) => {
              metrics.kubeWatchErrors.inc({ path: p });
              log.warn('kubernetes list/watch failed; retrying', { path: p, error: (err as Error).message ?? String(err), retryInMs });
            },
          })
        : new DirectorySource({
            dir: opts.configDir as string,
            store,
            onDiagnostics,
            onApplied: (sinceEventMs) => {
              if (sinceEventMs !== undefined) metrics.configReadDelay.observe(sinceEventMs / 1000);
            },
          });
    cleanups.push(() => source.close());
    await source.start();
    configLoaded = true;
    log.info('config loaded', {
      ...(opts.kubeconfig !== undefined ? { kubeconfig: opts.kubeconfig } : { dir: opts.configDir }),
      version: store.snapshot().version,
    });

    const syncz = (): ProxySync[] => buildSyncz(ads.connectionStatus(), opts.trustDomain, (id) => cache.getSnapshot(id)?.version);
    const debug: DebugServer = await startDebugServer(opts.httpListen ?? DEFAULT_HTTP_LISTEN, {
      ready: () => (configLoaded ? { ready: true } : { ready: false, reason: 'config not loaded' }),
      registry: metrics.registry,
      syncz: () => ({ cluster: opts.clusterId, proxies: syncz() }),
      configDump: (id) => {
        const s = cache.getSnapshot(ads.snapshotKeyOf(id) ?? id);
        if (!s) return undefined;
        // The snapshot holds gateway credentials' keys inline (SDS): never served, as Envoy's admin.
        return redactSecrets({
          version: s.version,
          resources: Object.fromEntries([...s.resources].map(([t, m]) => [shortType(t), [...m.values()]])),
        });
      },
    });
    cleanups.push(() => debug.close());
    let injectionWebhookAddress: string | undefined;
    if (opts.injectionWebhook) {
      const w = opts.injectionWebhook;
      const svc = `istiod.${w.systemNamespace}`;
      const webhook = await startInjectionWebhook({
        listen: w.listen,
        ca,
        dnsNames: [`${svc}.svc`, svc, `${svc}.svc.cluster.local`],
        // Proxies dial the istiod Service's name; the names they verify are SERVING_DNS_NAMES.
        settings: {
          image: w.image,
          discoveryAddress: `${svc}.svc:15012`,
          trustDomain: opts.trustDomain,
          clusterId: opts.clusterId,
          ...(w.revision ? { revision: w.revision } : {}),
        },
        logger: log,
      });
      cleanups.push(() => webhook.close());
      injectionWebhookAddress = webhook.address;
    }
    log.info('control plane serving', {
      xds: address,
      http: debug.address,
      ...(injectionWebhookAddress ? { injectionWebhook: injectionWebhookAddress } : {}),
      cluster: opts.clusterId,
      trustDomain: opts.trustDomain,
      rootCertFile,
    });

    return {
      address,
      httpAddress: debug.address,
      ...(injectionWebhookAddress ? { injectionWebhookAddress } : {}),
      rootCertPem,
      rootCertFile,
      ca,
      store,
      cache,
      ads,
      metrics,
      syncz,
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
