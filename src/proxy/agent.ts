// The agent (pilot-agent's job): from a bootstrap it gets the workload certificate from the CA with the
// workload's token and keeps it renewed, serves it to the proxy as the local secrets `default` and
// `ROOTCA`, starts admin, and opens the ADS stream: CDS and LDS wildcard, then EDS and SDS for the names
// the clusters and listeners refer to. Each update is applied to the proxy; what the proxy rejects is
// NACKed with its reason while the previous config keeps serving (an LDS update whose listeners partly
// failed to bind is applied except for those, and NACKed naming them, as Envoy does). With `dns` in the bootstrap it also
// subscribes to the name table (NDS) and runs the sidecar's DNS proxy on 127.0.0.1:15053, started
// before the first config arrives so the proxy never reports ready without it.
import { readFile } from 'node:fs/promises';
import type net from 'node:net';
import { AdsClient } from '../xds/client/ads-client.js';
import { DnsProxy, readResolvConf, type DnsEndpoint } from '../capture/dns-proxy.js';
import { NameTableTypeUrl, type NameTable } from '../envoy/name-table.js';
import type { Cluster, ClusterLoadAssignment, Listener, Secret } from '../envoy/envoy-types.js';
import { TypeUrl } from '../envoy/envoy-types.js';
import { loggerFrom } from '../shared/log.js';
import { edsNamesOf, referencedSecrets } from '../envoy/resource-refs.js';
import { requestCertificate } from '../pki/ca-service.js';
import { WorkloadCertificateManager, type WorkloadCertificate } from '../pki/workload-certificate.js';
import type { ProxyBootstrap } from './bootstrap-types.js';
import { startAdmin, type AdminServer } from './admin.js';
import { BootstrapError, ListenersNotBoundError } from './errors.js';
import { parseDnsUpstream } from './bootstrap.js';
import { defaultLog, Proxy } from './proxy.js';
import type { LogFn, OriginalDestination } from './proxy-context.js';

export interface AgentOptions {
  log?: LogFn;
  /** The original destination of redirected connections (src/capture's SO_ORIGINAL_DST in production). */
  originalDestination?: (sock: net.Socket) => OriginalDestination | undefined;
  /** Backoff for the ADS stream (tests shorten it). */
  adsBackoff?: { initialMs?: number; maxMs?: number };
  /** The resolv.conf the DNS proxy reads its upstream resolvers and search domains from (default /etc/resolv.conf). */
  resolvConf?: string;
  /** Where the DNS proxy listens (default 127.0.0.1, as Istio's agent); tests may pick another loopback address. */
  dnsAddress?: string;
  /**
   * Called once start() has read its start-up files (the mesh root) and before it opens any socket:
   * where `meshgate proxy --run-as` drops root, so every socket belongs to the proxy's user.
   */
  beforeFirstSocket?: () => void;
}

export class ProxyAgent {
  readonly proxy: Proxy;
  admin: AdminServer | undefined;
  ads: AdsClient | undefined;
  /** The sidecar's DNS proxy, when the bootstrap asks for one (after start). */
  dns: DnsProxy | undefined;
  /** The latest name table from NDS (undefined until the first push: queries are then all forwarded). */
  nameTable: NameTable | undefined;
  private certs: WorkloadCertificateManager | undefined;
  private readonly log: LogFn;
  private listeners: Listener[] = [];
  private clusters: Cluster[] = [];
  private stopped = false;

  constructor(
    readonly bootstrap: ProxyBootstrap,
    private readonly opts: AgentOptions = {},
  ) {
    this.log = opts.log ?? defaultLog;
    this.proxy = new Proxy({
      node: bootstrap.node,
      accessLog: { path: bootstrap.accessLog?.path ?? '/dev/stdout', format: bootstrap.accessLog?.format ?? 'text' },
      drainTimeoutMs: (bootstrap.drainTimeoutSeconds ?? 45) * 1000,
      originalDestination: opts.originalDestination,
      log: this.log,
      connectionLimits: bootstrap.connectionLimits,
    });
  }

  private async token(): Promise<string> {
    try {
      // Re-read on every use: Kubernetes rotates projected tokens in place.
      return (await readFile(this.bootstrap.tokenFile, 'utf8')).trim();
    } catch (err) {
      throw new BootstrapError(this.bootstrap.tokenFile, `cannot read the workload token: ${(err as Error).message}`, { cause: err });
    }
  }

  private applyWorkloadCertificate(c: WorkloadCertificate): void {
    this.proxy.setLocalSecret('default', {
      name: 'default',
      tlsCertificate: { certificateChain: { inlineString: c.certChainPem }, privateKey: { inlineString: c.privateKeyPem } },
    });
    this.proxy.setLocalSecret('ROOTCA', { name: 'ROOTCA', validationContext: { trustedCa: { inlineString: c.rootPem } } });
    this.log('info', `workload certificate ${c.info.serialHex} for ${c.info.uris.join(',')} valid until ${c.info.notAfter.toISOString()}`);
  }

  async start(): Promise<void> {
    const b = this.bootstrap;
    let rootCertPem: string;
    try {
      rootCertPem = await readFile(b.rootCertFile, 'utf8');
    } catch (err) {
      throw new BootstrapError(b.rootCertFile, `cannot read the mesh root certificate: ${(err as Error).message}`, { cause: err });
    }
    this.opts.beforeFirstSocket?.();
    this.certs = new WorkloadCertificateManager({
      ttlSeconds: b.certTtlSeconds ?? 86400,
      graceRatio: b.certGraceRatio ?? 0.5,
      requestChain: async (csrPem, ttlSeconds) =>
        requestCertificate({ address: b.caAddress ?? b.discoveryAddress, rootCertPem, token: await this.token(), csrPem, ttlSeconds }),
    });
    this.certs.on('rotated', (c: WorkloadCertificate) => this.applyWorkloadCertificate(c));
    this.certs.on('renewalFailed', (err: Error, attempt: number) =>
      this.log('warn', `workload certificate renewal failed (attempt ${attempt}): ${err.message}`),
    );
    await this.certs.start();
    this.applyWorkloadCertificate(this.certs.current());
    // Istio's ports by default (15000 admin, 15090 Prometheus, 15021 readiness); an admin port of 0 asks
    // for free ports everywhere, so several proxies can share a host in tests.
    const dynamic = b.admin?.port === 0;
    this.admin = await startAdmin(this.proxy, {
      address: b.admin?.address,
      port: b.admin?.port ?? 15000,
      probeAddress: b.probeAddress,
      statsPort: b.statsPort ?? (dynamic ? 0 : 15090),
      readinessPort: b.readinessPort ?? (dynamic ? 0 : 15021),
    });
    this.log(
      'info',
      `admin on ${this.admin.address}:${this.admin.port} (prometheus ${this.admin.probeAddress}:${this.admin.statsPort}, readiness ${this.admin.probeAddress}:${this.admin.readinessPort})`,
    );
    if (b.dns) await this.startDns(b.dns);
    this.ads = new AdsClient({
      address: b.discoveryAddress,
      rootCertPem,
      node: b.node,
      credentials: async () => {
        const c = this.certs!.current();
        return { token: await this.token(), certChainPem: c.certChainPem, privateKeyPem: c.privateKeyPem };
      },
      onResources: (typeUrl, resources, version) => this.onResources(typeUrl, resources, version),
      backoff: this.opts.adsBackoff,
      logger: loggerFrom(this.log),
      initialSubscriptions: [
        { typeUrl: TypeUrl.Cluster, names: [] },
        { typeUrl: TypeUrl.Listener, names: [] },
        // Istio's agent asks for the name table (wildcard) only when DNS capture is on.
        ...(b.dns ? [{ typeUrl: NameTableTypeUrl, names: [] }] : []),
      ],
    });
    this.ads.start();
  }

  private async startDns(cfg: NonNullable<ProxyBootstrap['dns']>): Promise<void> {
    const file = this.opts.resolvConf ?? '/etc/resolv.conf';
    let resolv: { nameservers: DnsEndpoint[]; search: string[] } = { nameservers: [], search: [] };
    try {
      resolv = readResolvConf(file);
    } catch (err) {
      // Without upstream in the bootstrap the resolv.conf is required; with it, only its search domains are lost.
      if (!cfg.upstream)
        throw new BootstrapError(file, `the DNS proxy needs the pod's resolvers (dns.upstream absent): ${(err as Error).message}`, {
          cause: err,
        });
      this.log('warn', `DNS proxy: cannot read ${file} for search domains: ${(err as Error).message}`);
    }
    const upstream = cfg.upstream ? cfg.upstream.map(parseDnsUpstream) : resolv.nameservers;
    const node = this.bootstrap.node;
    this.dns = new DnsProxy({
      listen: { address: this.opts.dnsAddress ?? '127.0.0.1', port: cfg.port ?? 15053 },
      upstream,
      table: () => this.nameTable,
      namespace: node.namespace,
      domainSuffix: node.domainSuffix,
      searchDomains: resolv.search,
      log: (level, message, fields) => this.log(level, message, fields),
    });
    const at = await this.dns.start();
    this.log(
      'info',
      `DNS proxy on ${at.address}:${at.port} (udp+tcp), upstream ${upstream.map((u) => `${u.address}:${u.port}`).join(', ') || '(none)'}`,
    );
  }

  /** Applies one xDS response; throwing makes the ADS client NACK it. */
  private async onResources(typeUrl: string, resources: object[], version: string): Promise<void> {
    switch (typeUrl) {
      case TypeUrl.Cluster: {
        const cs = resources as Cluster[];
        this.proxy.applyClusters(cs, version);
        this.clusters = cs;
        this.ads!.setSubscription(TypeUrl.ClusterLoadAssignment, edsNamesOf(cs));
        this.updateSecretSubscription();
        break;
      }
      case TypeUrl.Listener: {
        try {
          await this.proxy.applyListeners(resources as Listener[], version);
        } catch (err) {
          // Listeners that could not bind were left out and the rest applied: the secrets those name are
          // still needed (readiness waits for them), so the subscription follows before the NACK.
          if (err instanceof ListenersNotBoundError) {
            this.listeners = this.proxy.runningListenerConfigs();
            this.updateSecretSubscription();
          }
          throw err;
        }
        this.listeners = this.proxy.runningListenerConfigs();
        this.updateSecretSubscription();
        break;
      }
      case TypeUrl.ClusterLoadAssignment:
        this.proxy.applyEndpoints(resources as ClusterLoadAssignment[], version);
        break;
      case TypeUrl.Secret:
        this.proxy.applySecrets(resources as Secret[], version);
        break;
      case NameTableTypeUrl: {
        if (!this.dns) {
          this.log('debug', 'name table received without a DNS proxy; ignored');
          break;
        }
        if (resources.length > 1) throw new Error(`expected one NameTable, got ${resources.length}`);
        const nt = (resources[0] ?? { table: {} }) as NameTable;
        if (!nt.table || typeof nt.table !== 'object') throw new Error('NameTable without a table');
        this.nameTable = nt;
        this.log('debug', `name table ${version}: ${Object.keys(nt.table).length} hosts`);
        break;
      }
      default:
        // Types the proxy does not use are accepted and ignored.
        this.log('debug', `xDS type ${typeUrl} ignored by the proxy`);
    }
  }

  private updateSecretSubscription(): void {
    const names = new Set<string>();
    for (const l of this.listeners) for (const n of referencedSecrets(TypeUrl.Listener, l)) names.add(n);
    for (const c of this.clusters) for (const n of referencedSecrets(TypeUrl.Cluster, c)) names.add(n);
    this.ads!.setSubscription(TypeUrl.Secret, [...names]);
  }

  /** Graceful stop: readiness fails, listeners stop accepting, open connections get `drainMs` to finish. */
  async stop(drainMs = (this.bootstrap.drainTimeoutSeconds ?? 45) * 1000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.certs?.stop();
    await this.ads?.close();
    await this.dns?.close();
    await this.proxy.close(drainMs);
    await this.admin?.close();
  }
}
