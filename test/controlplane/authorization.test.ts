// Control plane authorization end to end, on the seed's cluster-A config: who may hold the egress
// gateway's credential (the gateway's own service account, or one the control plane names — never a
// router claim alone), and who owns a node id (the identity that first proved it; a second identity
// is refused and changes nothing; each stream of one identity gets config for its own node). Real
// gRPC over TLS with workload tokens, as proxies connect.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { startControlPlane, type ControlPlane } from '../../src/controlplane/control-plane.js';
import { AdsClient, type AdsClientCredentials } from '../../src/xds/client/ads-client.js';
import { TypeUrl } from '../../src/envoy/envoy-types.js';
import type { Cluster, Listener, Secret } from '../../src/envoy/envoy-types.js';
import { edsNamesOf, referencedSecrets } from '../../src/xds/snapshot-cache.js';
import { formatNodeId, type ProxyNode } from '../../src/envoy/node.js';
import { TokenIssuer } from '../../src/pki/workload-token.js';
import { jsonLogger } from '../../src/shared/log.js';
import { startSeedControlPlane } from './seed-config.js';

const ISSUER = 'https://kubernetes.default.svc.cluster.local';
const CREDENTIAL = ['kubernetes://client-credential', 'kubernetes://client-credential-cacert'];
const TO_MYSQL = 'outbound|13306||mysql.fqdn.example';

function node(n: Omit<ProxyNode, 'id' | 'domainSuffix' | 'clusterId'>): ProxyNode {
  const full = { ...n, domainSuffix: 'cluster.local', clusterId: 'cluster-a' };
  return { ...full, id: formatNodeId(full) };
}

const GATEWAY_LABELS = { app: 'istio-egressgateway', istio: 'egressgateway', 'security.istio.io/tlsMode': 'istio' };
const egressGateway = node({
  role: 'router',
  ips: ['10.10.0.20'],
  podName: 'istio-egressgateway-5f7b8c',
  namespace: 'istio-system',
  serviceAccount: 'istio-egressgateway-service-account',
  labels: GATEWAY_LABELS,
});

/** A proxy as the agent runs one: follows CDS/LDS with EDS and SDS subscriptions, records every response. */
class Proxy {
  readonly state = new Map<string, { version: string; resources: object[] }[]>();
  readonly client: AdsClient;
  /** SDS names asked for on top of what listeners and clusters reference. */
  extraSecrets: string[] = [];
  constructor(
    cp: ControlPlane,
    readonly node: ProxyNode,
    credentials: () => Promise<AdsClientCredentials>,
    readonly logs: string[] = [],
  ) {
    this.client = new AdsClient({
      address: cp.address,
      rootCertPem: cp.rootCertPem,
      node,
      credentials,
      backoff: { initialMs: 50, maxMs: 200 },
      logger: jsonLogger({ scope: 'proxy', write: (l) => logs.push(l) }),
      onResources: async (typeUrl, resources, version) => {
        const l = this.state.get(typeUrl) ?? [];
        l.push({ version, resources });
        this.state.set(typeUrl, l);
        if (typeUrl === TypeUrl.Cluster) this.client.setSubscription(TypeUrl.ClusterLoadAssignment, edsNamesOf(resources));
        if (typeUrl === TypeUrl.Cluster || typeUrl === TypeUrl.Listener) this.subscribeSecrets();
      },
    });
  }
  subscribeSecrets(): void {
    const refs = [
      ...(this.last(TypeUrl.Cluster)?.resources ?? []).flatMap((c) => referencedSecrets(TypeUrl.Cluster, c)),
      ...(this.last(TypeUrl.Listener)?.resources ?? []).flatMap((x) => referencedSecrets(TypeUrl.Listener, x)),
    ];
    this.client.setSubscription(
      TypeUrl.Secret,
      [...new Set([...refs, ...this.extraSecrets])].filter((n) => n !== 'default' && n !== 'ROOTCA').sort(),
    );
  }
  last(t: string): { version: string; resources: object[] } | undefined {
    const l = this.state.get(t);
    return l?.[l.length - 1];
  }
  count(t: string): number {
    return this.state.get(t)?.length ?? 0;
  }
  listenerNames(): string[] {
    return ((this.last(TypeUrl.Listener)?.resources ?? []) as Listener[]).map((l) => l.name).sort();
  }
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function get(cp: ControlPlane, p: string): Promise<string> {
  const res = await fetch(`http://${cp.httpAddress}${p}`);
  return res.text();
}

async function metric(cp: ControlPlane, re: RegExp): Promise<number> {
  const m = re.exec(await get(cp, '/metrics'));
  return m ? Number(m[1]) : 0;
}

interface Setup {
  cp: ControlPlane;
  tokens: TokenIssuer;
  logs: string[];
}

/**
 * The seed's cluster A, plus a copy of the gateway credential in `default` (where the old rule — any
 * router of the secret's namespace — would have served it to a sidecar's identity claiming router).
 */
function setup(t: { after(fn: () => Promise<void> | void): void }, gatewayServiceAccounts: string[] = []): Promise<Setup> {
  return startSeedControlPlane(t, {
    gatewayServiceAccounts,
    prepare: async (configDir) => {
      const state = parseAllDocuments(await readFile(path.join(configDir, 'cluster-state.yaml'), 'utf8')).map(
        (d) => d.toJS() as { kind: string; metadata: { namespace: string } },
      );
      const secret = state.find((d) => d.kind === 'Secret')!;
      await writeFile(
        path.join(configDir, 'default-credential.yaml'),
        stringify({ ...secret, metadata: { ...secret.metadata, namespace: 'default' } }),
      );
    },
  });
}

const tokenFor = (tokens: TokenIssuer, namespace: string, serviceAccount: string) => async (): Promise<AdsClientCredentials> => ({
  token: await tokens.mint({ namespace, serviceAccount, ttlSeconds: 600 }),
});

function open(s: Setup, n: ProxyNode, logs?: string[]): Proxy {
  const p = new Proxy(s.cp, n, tokenFor(s.tokens, n.namespace, n.serviceAccount), logs);
  p.client.start();
  return p;
}

function failClosedReason(p: Proxy, cluster: string): string {
  const c = ((p.last(TypeUrl.Cluster)?.resources ?? []) as Cluster[]).find((x) => x.name === cluster);
  return String(c?.metadata?.filterMetadata?.meshgate?.failClosed ?? '');
}

test("the egress gateway's credential goes to its own service account only: a sidecar identity or another istio-system identity claiming router gets none", async (t) => {
  const s = await setup(t);
  const gateway = open(s, egressGateway);
  // A sidecar's identity claiming router with the gateway's labels, in its own namespace (which has a copy of the secret) ...
  const sidecarAsRouter = node({
    role: 'router',
    ips: ['10.10.0.5'],
    podName: 'mysql-client-7d9f6c',
    namespace: 'default',
    serviceAccount: 'mysql-client',
    labels: GATEWAY_LABELS,
  });
  // ... and an istio-system identity that is not the gateway's, claiming to be the gateway's pod.
  const systemAsRouter = node({
    role: 'router',
    ips: ['10.10.0.21'],
    podName: 'istio-egressgateway-99',
    namespace: 'istio-system',
    serviceAccount: 'telemetry-job',
    labels: GATEWAY_LABELS,
  });
  const impostors = [open(s, sidecarAsRouter), open(s, systemAsRouter)];
  t.after(() => Promise.all([gateway, ...impostors].map((p) => p.client.close())));
  const denied: { node: ProxyNode; name: string }[] = [];
  s.cp.ads.on('denied', (e: { node: ProxyNode; name: string }) => denied.push(e));

  await until(() => gateway.count(TypeUrl.Secret) > 0, "the gateway's credential");
  assert.deepEqual((gateway.last(TypeUrl.Secret)!.resources as Secret[]).map((x) => x.name).sort(), CREDENTIAL);
  assert.equal(failClosedReason(gateway, TO_MYSQL), '', 'the gateway originates TLS with its credential');

  for (const p of impostors) {
    await until(() => p.count(TypeUrl.Listener) > 0 && p.count(TypeUrl.Cluster) > 0, `${p.node.serviceAccount}'s config`);
    // Its config names no credential it will never get: the origination cluster refuses connections, saying why.
    assert.match(
      failClosedReason(p, TO_MYSQL),
      new RegExp(`not served to this proxy: identity ${p.node.namespace}/${p.node.serviceAccount} is not a gateway's service account`),
    );
    // Asking for the credential by name anyway: withheld, each name logged once and counted.
    p.extraSecrets = CREDENTIAL;
    p.subscribeSecrets();
  }
  await until(() => denied.length === 4, 'both names withheld from both impostors');
  assert.deepEqual(denied.map((d) => `${d.node.serviceAccount} ${d.name}`).sort(), [
    'mysql-client kubernetes://client-credential',
    'mysql-client kubernetes://client-credential-cacert',
    'telemetry-job kubernetes://client-credential',
    'telemetry-job kubernetes://client-credential-cacert',
  ]);
  await new Promise((r) => setTimeout(r, 200));
  for (const p of impostors) assert.equal(p.count(TypeUrl.Secret), 0, `${p.node.serviceAccount} received no gateway secret`);
  assert.equal(await metric(s.cp, /^meshgate_xds_denied_resources_total\{type="sds"\} (\d+)$/m), 4);
  assert.equal(s.logs.filter((l) => l.includes('resource withheld')).length, 4);
});

test("--gateway-service-account names an identity that may hold its namespace's credentials", async (t) => {
  const s = await setup(t, ['istio-system/telemetry-job']);
  const listed = node({
    role: 'router',
    ips: ['10.10.0.21'],
    podName: 'istio-egressgateway-99',
    namespace: 'istio-system',
    serviceAccount: 'telemetry-job',
    labels: GATEWAY_LABELS,
  });
  const p = open(s, listed);
  t.after(() => p.client.close());
  await until(() => p.count(TypeUrl.Secret) > 0, "the listed identity's credential");
  assert.deepEqual((p.last(TypeUrl.Secret)!.resources as Secret[]).map((x) => x.name).sort(), CREDENTIAL);
  assert.equal(failClosedReason(p, TO_MYSQL), '');
  const work = await mkdtemp(path.join(tmpdir(), 'meshgate-authz-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const stateDir = path.join(work, 'state');
  await assert.rejects(
    startControlPlane({
      configDir: work,
      clusterId: 'c',
      trustDomain: 'cluster.local',
      listen: '127.0.0.1:0',
      httpListen: '127.0.0.1:0',
      stateDir,
      tokenPublicKeyFiles: [],
      tokenIssuer: ISSUER,
      gatewayServiceAccounts: ['telemetry-job'],
      logger: jsonLogger({ scope: 'cp', write: () => undefined }),
    }),
    (e: unknown) => (e as { code?: string }).code === 'E_SERVICE_ACCOUNT_REF',
  );
  assert.equal(existsSync(stateDir), false, 'refused before anything was written');
});

interface Dump {
  version: string;
  resources: Record<string, { name?: string }[]>;
}

async function dump(cp: ControlPlane, id: string): Promise<{ version: string; listeners: string[] }> {
  const d = JSON.parse(await get(cp, `/debug/config_dump?proxyID=${encodeURIComponent(id)}`)) as Dump;
  return { version: d.version, listeners: (d.resources.lds ?? []).map((l) => l.name ?? '').sort() };
}

test("a second identity reusing the gateway's node id is refused and changes nothing; the gateway reconnecting afterwards gets its own config", async (t) => {
  const s = await setup(t);
  const gateway = open(s, egressGateway);
  t.after(() => gateway.client.close());
  await until(() => gateway.count(TypeUrl.Secret) > 0 && gateway.listenerNames().length > 0, 'the gateway synced');
  const before = await dump(s.cp, egressGateway.id);
  const listeners = gateway.listenerNames();
  assert.ok(
    listeners.some((l) => l.endsWith('_15443')),
    `gateway listeners: ${listeners.join(', ')}`,
  );
  const ldsVersion = gateway.last(TypeUrl.Listener)!.version;

  // Same node id, another istio-system identity, labels no Gateway selects (it would take the gateway's listeners away).
  const attackerNode: ProxyNode = { ...egressGateway, serviceAccount: 'telemetry-job', labels: { app: 'telemetry' } };
  const attackerLogs: string[] = [];
  const attacker = open(s, attackerNode, attackerLogs);
  t.after(() => attacker.client.close());
  await until(async () => (await metric(s.cp, /^meshgate_xds_auth_failures_total (\d+)$/m)) >= 1, 'the refusal to be counted');
  // The gateway's pod is known, so the claim is refused on what the control plane knows of it (the
  // binding of node ids to their first identity covers pods it does not know: test/xds/node-binding.test.ts).
  await until(
    () =>
      attackerLogs.some(
        (l) =>
          l.includes('PERMISSION_DENIED: node') &&
          l.includes(
            'pod istio-system/istio-egressgateway-5f7b8c runs as service account istio-egressgateway-service-account, not telemetry-job',
          ),
      ),
    'the attacker to see PERMISSION_DENIED',
  );
  assert.ok(
    s.logs.some((l) => l.includes('node claims contradict the control plane')),
    'the control plane logs the refusal',
  );
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(attacker.count(TypeUrl.Listener), 0);
  assert.deepEqual(await dump(s.cp, egressGateway.id), before, "config_dump for the node id is the gateway's, unchanged");
  assert.deepEqual(gateway.listenerNames(), listeners);
  assert.equal(gateway.last(TypeUrl.Listener)!.version, ldsVersion, 'no push to the gateway');
  const syncz = JSON.parse(await get(s.cp, '/debug/syncz')) as { proxies: { proxy: string; identity: string }[] };
  assert.deepEqual(
    syncz.proxies.map((p) => [p.proxy, p.identity]),
    [[egressGateway.id, 'spiffe://cluster.local/ns/istio-system/sa/istio-egressgateway-service-account']],
  );

  // The gateway goes away while the attacker keeps retrying, then comes back: still its node id, its config.
  await gateway.client.close();
  const refusedSoFar = await metric(s.cp, /^meshgate_xds_auth_failures_total (\d+)$/m);
  await until(
    async () => (await metric(s.cp, /^meshgate_xds_auth_failures_total (\d+)$/m)) > refusedSoFar,
    'the attacker refused again while the gateway is away',
  );
  const back = open(s, egressGateway);
  t.after(() => back.client.close());
  await until(() => back.count(TypeUrl.Secret) > 0 && back.listenerNames().length > 0, 'the gateway back with its config');
  assert.deepEqual(back.listenerNames(), listeners);
  assert.deepEqual((await dump(s.cp, egressGateway.id)).listeners, before.listeners);
  assert.equal(attacker.count(TypeUrl.Listener), 0, 'the attacker never got config');
});

test("another service account of the pod's namespace cannot pre-claim a known pod's node id: refused before binding, the pod connects afterwards and gets its config", async (t) => {
  const s = await setup(t);
  const client = node({
    role: 'sidecar',
    ips: ['10.10.0.5'],
    podName: 'mysql-client-7d9f6c',
    namespace: 'default',
    serviceAccount: 'mysql-client',
    labels: { app: 'mysql-client' },
  });
  // First to connect: a workload of the same namespace running as another service account, naming the client's pod.
  const squatterLogs: string[] = [];
  const squatter = open(s, { ...client, serviceAccount: 'batch-job' }, squatterLogs);
  t.after(() => squatter.client.close());
  await until(
    () => squatterLogs.some((l) => l.includes('pod default/mysql-client-7d9f6c runs as service account mysql-client, not batch-job')),
    'the squatter to be refused',
  );
  const real = open(s, client);
  t.after(() => real.client.close());
  await until(() => real.listenerNames().length > 0 && real.count(TypeUrl.Cluster) > 0, 'the real client sidecar to get its config');
  assert.equal(squatter.count(TypeUrl.Listener), 0, 'the squatter never got config');
});

test('one identity reconnecting with new labels gets config for them; its old stream keeps its own until it closes', async (t) => {
  const s = await setup(t);
  const old = open(s, egressGateway);
  t.after(() => old.client.close());
  await until(() => old.listenerNames().length > 0 && old.count(TypeUrl.Secret) > 0, 'the first stream synced');
  const gatewayListeners = old.listenerNames();
  const oldLds = old.count(TypeUrl.Listener);

  // Same pod, same service account, new labels that no Gateway selects: a gateway with nothing to serve.
  const relabelled: ProxyNode = { ...egressGateway, labels: { app: 'istio-egressgateway', istio: 'retired' } };
  const fresh = open(s, relabelled);
  t.after(() => fresh.client.close());
  await until(() => fresh.count(TypeUrl.Listener) > 0, "the new stream's listeners");
  assert.deepEqual(fresh.listenerNames(), [], 'config for the new labels');
  assert.deepEqual((await dump(s.cp, egressGateway.id)).listeners, [], 'config_dump shows the newest stream');
  assert.equal((JSON.parse(await get(s.cp, '/debug/syncz')) as { proxies: unknown[] }).proxies.length, 2);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(old.listenerNames(), gatewayListeners, 'the old stream keeps config for its own labels');
  assert.equal(old.count(TypeUrl.Listener), oldLds, "and is not pushed the new stream's");

  // The new stream closes: the old one is still served from its own node, and config_dump shows it.
  await fresh.client.close();
  await until(async () => (await dump(s.cp, egressGateway.id)).listeners.length > 0, 'config_dump to show the remaining stream');
  assert.deepEqual((await dump(s.cp, egressGateway.id)).listeners, gatewayListeners);
  assert.deepEqual(old.listenerNames(), gatewayListeners);
  assert.equal(old.count(TypeUrl.Listener), oldLds);
});
