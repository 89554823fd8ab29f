// `meshgate control-plane --config DIR --cluster-id ID --trust-domain TD`: istiod's job for one cluster.
// Watches DIR (or, with --kubeconfig, the API server's objects), serves xDS and the CA on --listen (TLS, mesh root written to STATE/root-cert.pem), and
// /ready, /metrics, /debug/syncz on --http-listen. Logs JSON lines to stderr; runs until SIGTERM/SIGINT.
import type { Command } from 'commander';
import os from 'node:os';
import path from 'node:path';
import { parseDuration } from '../config/duration.js';
import { DEFAULT_HTTP_LISTEN, DEFAULT_XDS_LISTEN, startControlPlane } from '../controlplane/control-plane.js';
import { parseServiceAccountRef } from '../model/gateway-identity.js';
import { jsonLogger, type LogLevel } from '../shared/log.js';

export const DEFAULT_TOKEN_ISSUER = 'https://kubernetes.default.svc.cluster.local';

interface ControlPlaneCliOptions {
  config?: string;
  kubeconfig?: string;
  configSource?: string;
  clusterId: string;
  trustDomain: string;
  listen: string;
  httpListen: string;
  caDir?: string;
  stateDir?: string;
  tokenPublicKey: string[];
  tokenIssuer: string;
  debounceMs: string;
  maxWorkloadCertTtl: string;
  gatewayServiceAccount: string[];
  logLevel: string;
  injectionWebhookListen?: string;
  injectionImage: string;
  systemNamespace: string;
  revision?: string;
}

function parseLevel(s: string): LogLevel {
  if (s === 'debug' || s === 'info' || s === 'warn' || s === 'error') return s;
  throw Object.assign(new Error(`unknown log level "${s}": expected debug, info, warn or error`), { code: 'E_CLI_USAGE' });
}

export function registerControlPlaneCommand(program: Command): void {
  program
    .command('control-plane')
    .description("Run the control plane (istiod's job): watch a config folder, run the mesh CA, serve xDS to proxies.")
    .option('--config <dir>', 'folder of Istio/Kubernetes YAML or JSON to serve (watched for changes)')
    .option('--kubeconfig <file>', "read config from this kubeconfig's API server (list + watch) instead of a folder")
    .option(
      '--config-source <source>',
      'directory (with --config) or kubernetes (with --kubeconfig, else $KUBECONFIG, else ~/.kube/config)',
    )
    .requiredOption('--cluster-id <id>', "this cluster's id (Istio's CLUSTER_ID)")
    .option('--trust-domain <domain>', 'SPIFFE trust domain of this cluster', 'cluster.local')
    .option('--listen <host:port>', 'xDS and CA gRPC (TLS) address', DEFAULT_XDS_LISTEN)
    .option('--http-listen <host:port>', '/ready, /metrics and /debug/syncz address', DEFAULT_HTTP_LISTEN)
    .option(
      '--ca-dir <dir>',
      'a cacerts folder (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem); default: a self-signed root kept in the state folder',
    )
    .option('--state-dir <dir>', 'where the self-signed CA and root-cert.pem are kept (default: ./.meshgate/<cluster-id>)')
    .option('--token-public-key <file...>', 'PEM public key(s) that sign workload tokens (repeatable)', [])
    .option('--token-issuer <iss>', 'the issuer workload tokens must carry', DEFAULT_TOKEN_ISSUER)
    .option('--debounce-ms <ms>', 'wait this long after a config change before pushing', '100')
    .option(
      '--max-workload-cert-ttl <duration>',
      "longest workload certificate the CA signs (Istio's MAX_WORKLOAD_CERT_TTL); a longer request is refused, as Istio does",
      '24h',
    )
    .option(
      '--gateway-service-account <namespace/name>',
      "a service account that may hold its namespace's gateway credentials (kubernetes:// secrets) besides those of Pods a Gateway selects (repeatable)",
      (v: string, prev: string[]) => [...prev, v],
      [],
    )
    .option(
      '--injection-webhook-listen <host:port>',
      'serve the sidecar injection webhook (HTTPS, /inject; Istio: 15017) with a certificate from the mesh CA',
    )
    .option('--injection-image <image>', 'the image the webhook injects (meshgate capture and meshgate proxy)', 'meshgate:latest')
    .option(
      '--system-namespace <ns>',
      "the namespace of the control plane's istiod Service (its webhook certificate names istiod.NS.svc)",
      'istio-system',
    )
    .option('--revision <rev>', "the control plane revision injected pods record (Istio's istio.io/rev)")
    .option('--log-level <level>', 'debug, info, warn or error', 'info')
    .action(async (o: ControlPlaneCliOptions) => {
      const debounceMs = Number(o.debounceMs);
      if (!Number.isFinite(debounceMs) || debounceMs < 0)
        throw Object.assign(new Error(`--debounce-ms must be a non-negative number, got "${o.debounceMs}"`), { code: 'E_CLI_USAGE' });
      let maxTtlMs: number;
      try {
        maxTtlMs = parseDuration(o.maxWorkloadCertTtl);
      } catch (err) {
        throw Object.assign(new Error(`--max-workload-cert-ttl: ${(err as Error).message}`), { code: 'E_CLI_USAGE' });
      }
      if (maxTtlMs < 60_000)
        throw Object.assign(new Error(`--max-workload-cert-ttl must be at least 1m, got "${o.maxWorkloadCertTtl}"`), {
          code: 'E_CLI_USAGE',
        });
      const gatewayServiceAccounts = o.gatewayServiceAccount.map((v) => {
        try {
          return parseServiceAccountRef(v);
        } catch (err) {
          throw Object.assign(new Error(`--gateway-service-account: ${(err as Error).message}`), { code: 'E_CLI_USAGE' });
        }
      });
      const source = o.configSource ?? (o.kubeconfig !== undefined ? 'kubernetes' : 'directory');
      if (source !== 'directory' && source !== 'kubernetes')
        throw Object.assign(new Error(`--config-source must be directory or kubernetes, got "${source}"`), { code: 'E_CLI_USAGE' });
      if (source === 'directory' && o.config === undefined)
        throw Object.assign(new Error('give --config DIR, or --kubeconfig FILE (--config-source kubernetes)'), { code: 'E_CLI_USAGE' });
      if (source === 'kubernetes' && o.config !== undefined)
        throw Object.assign(new Error('--config and the kubernetes config source exclude each other'), { code: 'E_CLI_USAGE' });
      const kubeconfig =
        source === 'kubernetes'
          ? (o.kubeconfig ?? process.env.KUBECONFIG?.split(path.delimiter)[0] ?? path.join(os.homedir(), '.kube', 'config'))
          : undefined;
      const logger = jsonLogger({ scope: 'control-plane', level: parseLevel(o.logLevel) });
      const cp = await startControlPlane({
        ...(kubeconfig !== undefined ? { kubeconfig } : { configDir: o.config as string }),
        clusterId: o.clusterId,
        trustDomain: o.trustDomain,
        listen: o.listen,
        httpListen: o.httpListen,
        ...(o.caDir ? { caDir: o.caDir } : {}),
        stateDir: o.stateDir ?? path.join('.meshgate', o.clusterId),
        tokenPublicKeyFiles: o.tokenPublicKey,
        tokenIssuer: o.tokenIssuer,
        debounceMs,
        maxWorkloadCertTtlSeconds: Math.floor(maxTtlMs / 1000),
        gatewayServiceAccounts,
        ...(o.injectionWebhookListen
          ? {
              injectionWebhook: {
                listen: o.injectionWebhookListen,
                image: o.injectionImage,
                systemNamespace: o.systemNamespace,
                ...(o.revision ? { revision: o.revision } : {}),
              },
            }
          : {}),
        logger,
      });
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          logger.info('shutting down', { signal });
          process.off('SIGTERM', onTerm);
          process.off('SIGINT', onInt);
          resolve();
        };
        const onTerm = (): void => stop('SIGTERM');
        const onInt = (): void => stop('SIGINT');
        process.on('SIGTERM', onTerm);
        process.on('SIGINT', onInt);
      });
      await cp.close();
      logger.info('stopped');
    });
}
