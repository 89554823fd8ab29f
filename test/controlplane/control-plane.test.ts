// The control plane process end to end: the seed's cluster-A YAML in a watched directory, a real mesh
// CA, workload tokens, the CA service and ADS on one TLS port, proxies as real ADS clients, and the
// monitoring endpoints over HTTP — all on 127.0.0.1.
import { test, type TestContext } from 'node:test';
import http from 'node:http';
import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, writeFile, readFile } from 'node:fs/promises';
import { parseAllDocuments, stringify } from 'yaml';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startControlPlane, type ControlPlane } from '../../src/controlplane/control-plane.js';
import { AdsClient, type AdsClientCredentials } from '../../src/xds/client/ads-client.js';
import { TypeUrl } from '../../src/envoy/envoy-types.js';
import type { Cluster, Listener, Secret } from '../../src/envoy/envoy-types.js';
import { edsNamesOf, referencedSecrets } from '../../src/xds/snapshot-cache.js';
import { formatNodeId, type ProxyNode } from '../../src/envoy/node.js';
import { TokenIssuer } from '../../src/pki/workload-token.js';
import { requestCertificate } from '../../src/pki/ca-service.js';
import { createCsr, issueCertificate } from '../../src/pki/certificate.js';
import { generateKeyPair } from '../../src/pki/keys.js';
import { jsonLogger } from '../../src/shared/log.js';
import { NameTableTypeUrl, type NameTable } from '../../src/envoy/name-table.js';
import { startSeedControlPlane, type SeedControlPlane } from './seed-config.js';

function node(n: Omit<ProxyNode, 'id' | 'domainSuffix'>): ProxyNode {
  const full = { ...n, domainSuffix: 'cluster.local' };
  return { ...full, id: formatNodeId(full) };
}

const clientSidecar = node({
  role: 'sidecar',
  ips: ['10.10.0.5'],
  podName: 'mysql-client-7d9f6c',
  namespace: 'default',
  serviceAccount: 'mysql-client',
  labels: { app: 'mysql-client' },
  clusterId: 'cluster-a',
  interceptionMode: 'REDIRECT',
});
const egressGateway = node({
  role: 'router',
  ips: ['10.10.0.20'],
  podName: 'istio-egressgateway-5f7b8c',
  namespace: 'istio-system',
  serviceAccount: 'istio-egressgateway-service-account',
  labels: { app: 'istio-egressgateway', istio: 'egressgateway', 'security.istio.io/tlsMode': 'istio' },
  clusterId: 'cluster-a',
});

class Proxy {
  readonly state = new Map<string, { version: string; resources: object[] }[]>();
  readonly client: AdsClient;
  constructor(
    cp: ControlPlane,
    readonly node: ProxyNode,
    credentials: () => Promise<AdsClientCredentials>,
  ) {
    this.client = new AdsClient({
      address: cp.address,
      rootCertPem: cp.rootCertPem,
      node,
      credentials,
      backoff: { initialMs: 50, maxMs: 300 },
      initialSubscriptions: [
        { typeUrl: TypeUrl.Cluster, names: [] },
        { typeUrl: TypeUrl.Listener, names: [] },
      ],
      onResources: async (typeUrl, resources, version) => {
        const l = this.state.get(typeUrl) ?? [];
        l.push({ version, resources });
        this.state.set(typeUrl, l);
        if (typeUrl === TypeUrl.Cluster) this.client.setSubscription(TypeUrl.ClusterLoadAssignment, edsNamesOf(resources));
        if (typeUrl === TypeUrl.Cluster || typeUrl === TypeUrl.Listener) {
          const all = [
            ...(this.last(TypeUrl.Cluster)?.resources ?? []).flatMap((c) => referencedSecrets(TypeUrl.Cluster, c)),
            ...(this.last(TypeUrl.Listener)?.resources ?? []).flatMap((x) => referencedSecrets(TypeUrl.Listener, x)),
          ];
          this.client.setSubscription(TypeUrl.Secret, all);
        }
      },
    });
  }
  last(t: string): { version: string; resources: object[] } | undefined {
    const l = this.state.get(t);
    return l?.[l.length - 1];
  }
  count(t: string): number {
    return this.state.get(t)?.length ?? 0;
  }
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function get(cp: ControlPlane, p: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://${cp.httpAddress}${p}`);
  return { status: res.status, text: await res.text() };
}

function setup(t: { after(fn: () => Promise<void> | void): void }): Promise<SeedControlPlane> {
  return startSeedControlPlane(t);
}

const tokenCreds = (tokens: TokenIssuer, n: ProxyNode) => async (): Promise<AdsClientCredentials> => ({
  token: await tokens.mint({ namespace: n.namespace, serviceAccount: n.serviceAccount, ttlSeconds: 600 }),
});

test('serves the seed: the client sidecar gets ISTIO_MUTUAL toward the egress gateway, the gateway gets its credential, syncz and metrics report it', async (t) => {
  const { cp: plane, tokens } = await setup(t);
  assert.equal(await readFile(plane.rootCertFile, 'utf8'), plane.rootCertPem);
  assert.equal((await get(plane, '/ready')).status, 200);
  const sidecar = new Proxy(plane, clientSidecar, tokenCreds(tokens, clientSidecar));
  const gateway = new Proxy(plane, egressGateway, tokenCreds(tokens, egressGateway));
  t.after(() => Promise.all([sidecar.client.close(), gateway.client.close()]));
  sidecar.client.start();
  gateway.client.start();
  await until(() => sidecar.count(TypeUrl.Listener) > 0 && gateway.count(TypeUrl.Secret) > 0, 'sidecar LDS and gateway SDS');
  const toEgress = (sidecar.last(TypeUrl.Cluster)!.resources as Cluster[]).find(
    (c) => c.name === 'outbound|15443|mysql|istio-egressgateway.istio-system.svc.cluster.local',
  );
  assert.ok(toEgress, 'the sidecar has the cluster toward the egress gateway');
  const upstream = toEgress.transportSocket?.typedConfig as { sni?: string } | undefined;
  assert.equal(upstream?.sni, 'mysql.fqdn.example');
  const secrets = (gateway.last(TypeUrl.Secret)!.resources as Secret[]).map((s) => s.name).sort();
  assert.deepEqual(secrets, ['kubernetes://client-credential', 'kubernetes://client-credential-cacert']);
  assert.ok((gateway.last(TypeUrl.Listener)!.resources as Listener[]).some((l) => l.address.socketAddress?.portValue === 15443));

  await until(async () => {
    const s = JSON.parse((await get(plane, '/debug/syncz')).text) as {
      proxies: { proxy: string; types: Record<string, { state: string }> }[];
    };
    return (
      s.proxies.length === 2 &&
      s.proxies.every((p) => p.types.cds!.state === 'SYNCED' && p.types.lds!.state === 'SYNCED' && p.types.eds!.state === 'SYNCED')
    );
  }, 'syncz to show both proxies SYNCED');
  const syncz = JSON.parse((await get(plane, '/debug/syncz')).text) as {
    cluster: string;
    proxies: { name: string; identity: string; authenticatedBy: string }[];
  };
  assert.equal(syncz.cluster, 'cluster-a');
  assert.deepEqual(
    syncz.proxies.map((p) => [p.name, p.identity, p.authenticatedBy]),
    [
      ['istio-egressgateway-5f7b8c.istio-system', 'spiffe://cluster.local/ns/istio-system/sa/istio-egressgateway-service-account', 'token'],
      ['mysql-client-7d9f6c.default', 'spiffe://cluster.local/ns/default/sa/mysql-client', 'token'],
    ],
  );
  // NDS: the sidecar's DNS proxy asks for the name table (wildcard, one unnamed resource, as istiod sends it).
  sidecar.client.setSubscription(NameTableTypeUrl, []);
  await until(() => sidecar.count(NameTableTypeUrl) > 0, 'the name table');
  const table = sidecar.last(NameTableTypeUrl)!.resources[0] as NameTable;
  assert.ok(table.table['mysql.fqdn.example']?.ips.length, 'the ServiceEntry host resolves');
  const metrics = (await get(plane, '/metrics')).text;
  assert.match(metrics, /^pilot_xds\{version="unknown"\} 2$/m);
  assert.match(metrics, /^pilot_xds_pushes\{type="cds"\} [1-9]/m);
  assert.match(metrics, /^pilot_xds_pushes\{type="sds"\} 1$/m);
  const dump = JSON.parse((await get(plane, `/debug/config_dump?proxyID=${encodeURIComponent(clientSidecar.id)}`)).text) as {
    resources: Record<string, unknown[]>;
  };
  assert.ok(dump.resources.cds!.length > 0);
});

/** GET with an explicit Host header (fetch does not let a caller choose it; a rebinding browser does). */
function getWithHost(cp: ControlPlane, p: string, host: string): Promise<{ status: number; text: string }> {
  const [address, port] = [
    cp.httpAddress.slice(0, cp.httpAddress.lastIndexOf(':')),
    Number(cp.httpAddress.slice(cp.httpAddress.lastIndexOf(':') + 1)),
  ];
  return new Promise((resolve, reject) => {
    const req = http.request({ host: address, port, path: p, headers: { host } }, (res) => {
      let text = '';
      res
        .setEncoding('utf8')
        .on('data', (d: string) => (text += d))
        .on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

test("config_dump of the egress gateway shows its credential's certificate but never its private key", async (t) => {
  const { cp: plane, tokens } = await setup(t);
  const gateway = new Proxy(plane, egressGateway, tokenCreds(tokens, egressGateway));
  t.after(() => gateway.client.close());
  gateway.client.start();
  await until(() => gateway.count(TypeUrl.Secret) > 0, 'gateway SDS');
  const served = (gateway.last(TypeUrl.Secret)!.resources as Secret[]).find((s) => s.name === 'kubernetes://client-credential')!;
  const keyB64 = served.tlsCertificate!.privateKey!.inlineBytes!;
  const certB64 = served.tlsCertificate!.certificateChain!.inlineBytes!;
  const keyPem = Buffer.from(keyB64, 'base64').toString();
  assert.match(keyPem, /PRIVATE KEY/, 'the gateway itself does get its key over SDS');
  const res = await get(plane, `/debug/config_dump?proxyID=${encodeURIComponent(egressGateway.id)}`);
  assert.equal(res.status, 200);
  assert.doesNotMatch(res.text, /PRIVATE KEY/);
  assert.equal(res.text.includes(keyB64), false, 'the key as SDS inlineBytes');
  assert.equal(res.text.includes(keyPem.replace(/-----[A-Z ]+-----|\s/g, '').slice(0, 40)), false, 'the key body');
  const dump = JSON.parse(res.text) as { resources: { sds: Secret[] } };
  const secret = dump.resources.sds.find((s) => s.name === 'kubernetes://client-credential')!;
  assert.equal(secret.tlsCertificate!.certificateChain!.inlineBytes, certB64, 'the certificate is shown');
  assert.deepEqual(secret.tlsCertificate!.privateKey, { inlineString: '[redacted]' });
  // The snapshot itself keeps the key: redaction is of what is printed, never of what is served.
  const again = (gateway.last(TypeUrl.Secret)!.resources as Secret[]).find((s) => s.name === 'kubernetes://client-credential')!;
  assert.equal(again.tlsCertificate!.privateKey!.inlineBytes, keyB64);
});

test('the monitoring port refuses a request addressed to a name (DNS rebinding) and answers IP literals and localhost', async (t) => {
  const { cp: plane } = await setup(t);
  const dumpPath = `/debug/config_dump?proxyID=${encodeURIComponent(egressGateway.id)}`;
  for (const p of ['/ready', '/debug/syncz', dumpPath, '/metrics']) {
    const r = await getWithHost(plane, p, 'evil.example');
    assert.equal(r.status, 403, `${p} with Host evil.example`);
    assert.match(r.text, /Host \\"evil\.example\\" refused.*DNS rebinding/);
  }
  assert.equal((await getWithHost(plane, '/ready', `localhost:${plane.httpAddress.split(':').pop()}`)).status, 200);
  assert.equal((await getWithHost(plane, '/ready', plane.httpAddress)).status, 200);
});

/** The client sidecar and the egress gateway connected and synced; the pushes recorded from then on. */
async function syncClientAndGateway(t: TestContext, plane: ControlPlane, tokens: TokenIssuer) {
  const sidecar = new Proxy(plane, clientSidecar, tokenCreds(tokens, clientSidecar));
  const gateway = new Proxy(plane, egressGateway, tokenCreds(tokens, egressGateway));
  t.after(() => Promise.all([sidecar.client.close(), gateway.client.close()]));
  sidecar.client.start();
  gateway.client.start();
  await until(() => sidecar.count(TypeUrl.ClusterLoadAssignment) > 0 && gateway.count(TypeUrl.Secret) > 0, 'both proxies synced');
  const pushes: { node: ProxyNode; typeUrl: string }[] = [];
  plane.ads.on('push', (e: { node: ProxyNode; typeUrl: string }) => pushes.push(e));
  return { sidecar, gateway, pushes };
}

test('a config change is debounced and pushed only to the proxies it affects; an invalid edit keeps the last good config', async (t) => {
  const { cp: plane, tokens, configDir, logs } = await setup(t);
  const { sidecar, gateway, pushes } = await syncClientAndGateway(t, plane, tokens);
  const gwClusters = gateway.count(TypeUrl.Cluster);
  // A ServiceEntry exported only to its own namespace: the default-namespace sidecar sees it, the istio-system gateway does not.
  await writeFile(
    path.join(configDir, 'postgres.yaml'),
    [
      'apiVersion: networking.istio.io/v1',
      'kind: ServiceEntry',
      'metadata:',
      '  name: postgres',
      '  namespace: default',
      'spec:',
      '  hosts: [postgres.fqdn.example]',
      '  exportTo: ["."]',
      '  location: MESH_EXTERNAL',
      '  resolution: DNS',
      '  ports:',
      '  - number: 5432',
      '    name: tcp-postgres',
      '    protocol: TCP',
      '',
    ].join('\n'),
  );
  await until(
    () => (sidecar.last(TypeUrl.Cluster)!.resources as Cluster[]).some((c) => c.name === 'outbound|5432||postgres.fqdn.example'),
    'the sidecar to receive the new cluster',
  );
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(pushes.length > 0);
  assert.deepEqual([...new Set(pushes.map((p) => p.node.id))], [clientSidecar.id], 'only the sidecar was pushed');
  assert.equal(gateway.count(TypeUrl.Cluster), gwClusters);

  const before = sidecar.count(TypeUrl.Cluster);
  await writeFile(
    path.join(configDir, 'postgres.yaml'),
    'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: postgres\n  namespace: default\nspec:\n  hosts: [postgres.fqdn.example]\n  ports:\n  - number: "not a port"\n',
  );
  await until(
    () => logs.some((l) => l.includes('config invalid; the last valid version stays in force')),
    'the invalid edit to be reported',
  );
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(sidecar.count(TypeUrl.Cluster), before, 'no push for an invalid edit');
  assert.match((await get(plane, '/metrics')).text, /^meshgate_config_diagnostics_total\{level="Error"\} [1-9]/m);
});

test('the CA on the same port issues a workload certificate that then authenticates the xDS stream; a sidecar asking for a gateway credential gets nothing', async (t) => {
  const { cp: plane, tokens } = await setup(t);
  const keys = await generateKeyPair('ec-p256');
  const chain = await requestCertificate({
    address: plane.address,
    rootCertPem: plane.rootCertPem,
    token: await tokens.mint({ namespace: 'default', serviceAccount: 'mysql-client', ttlSeconds: 600 }),
    csrPem: await createCsr({ privateKeyPem: keys.privateKeyPem, uris: ['spiffe://cluster.local/ns/default/sa/mysql-client'] }),
    ttlSeconds: 3600,
  });
  const sidecar = new Proxy(plane, clientSidecar, async () => ({
    certChainPem: chain.slice(0, -1).join(''),
    privateKeyPem: keys.privateKeyPem,
  }));
  t.after(() => sidecar.client.close());
  sidecar.client.start();
  await until(() => sidecar.count(TypeUrl.Listener) > 0, 'LDS over a certificate-authenticated stream');
  assert.equal(plane.syncz()[0]!.authenticatedBy, 'certificate');
  sidecar.client.setSubscription(TypeUrl.Secret, ['kubernetes://client-credential']);
  await until(
    () => plane.ads.connectionStatus()[0]?.types[TypeUrl.Secret]?.names.includes('kubernetes://client-credential') === true,
    'the server to see the SDS subscription',
  );
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(sidecar.count(TypeUrl.Secret), 0);
});

test('refuses to start on a config folder that does not exist, naming it', async (t) => {
  const work = await mkdtemp(path.join(tmpdir(), 'meshgate-cp-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  await assert.rejects(
    startControlPlane({
      configDir: path.join(work, 'missing'),
      clusterId: 'c',
      trustDomain: 'cluster.local',
      listen: '127.0.0.1:0',
      httpListen: '127.0.0.1:0',
      stateDir: path.join(work, 'state'),
      tokenPublicKeyFiles: [],
      tokenIssuer: 'x',
      logger: jsonLogger({ scope: 'cp', write: () => undefined }),
    }),
    (e: unknown) => (e as { code?: string }).code === 'E_CONTROL_PLANE' && /missing cannot be read: ENOENT/.test((e as Error).message),
  );
});

test('a proxy that rejects its listeners is counted in pilot_total_xds_rejects and shown STALE with its error in syncz', async (t) => {
  const { cp: plane, tokens } = await setup(t);
  const client = new AdsClient({
    address: plane.address,
    rootCertPem: plane.rootCertPem,
    node: clientSidecar,
    credentials: tokenCreds(tokens, clientSidecar),
    onResources: async (typeUrl) => {
      if (typeUrl === TypeUrl.Listener) throw new Error('cannot bind 0.0.0.0:15001: permission denied');
    },
  });
  t.after(() => client.close());
  client.start();
  await until(
    async () => /^pilot_total_xds_rejects\{type="lds"\} 1$/m.test((await get(plane, '/metrics')).text),
    'the LDS reject to be counted',
  );
  const syncz = JSON.parse((await get(plane, '/debug/syncz')).text) as {
    proxies: { types: Record<string, { state: string; error?: string; acked?: string }> }[];
  };
  const lds = syncz.proxies[0]!.types.lds!;
  assert.equal(lds.state, 'STALE');
  assert.match(lds.error!, /permission denied/);
  assert.equal(lds.acked, undefined, 'nothing was ever accepted');
  assert.equal(syncz.proxies[0]!.types.cds!.state, 'SYNCED');
});

/** A client credential for the egress gateway from a new root, its key, and a key that is not its own. */
async function newClientCredential(): Promise<{ rootPem: string; leafPem: string; keyPem: string; otherKeyPem: string }> {
  const rootKeys = await generateKeyPair('ec-p256');
  const rootPem = await issueCertificate({
    subject: 'CN=Root CA R2 (test)',
    publicKeyPem: rootKeys.publicKeyPem,
    issuer: 'self',
    selfPrivateKeyPem: rootKeys.privateKeyPem,
    isCa: true,
    ttlSeconds: 3600,
  });
  const leafKeys = await generateKeyPair('ec-p256');
  const leafPem = await issueCertificate({
    subject: 'CN=client.mysql.fqdn.example',
    publicKeyPem: leafKeys.publicKeyPem,
    issuer: { certPem: rootPem, privateKeyPem: rootKeys.privateKeyPem },
    usage: 'client',
    dns: ['mysql.fqdn.example'],
    ttlSeconds: 3600,
  });
  return { rootPem, leafPem, keyPem: leafKeys.privateKeyPem, otherKeyPem: (await generateKeyPair('ec-p256')).privateKeyPem };
}

/** Replaces Secret client-credential in the seed's cluster-state.yaml by writing a temporary file and renaming it. */
async function replaceClientCredential(configDir: string, data: Record<string, string>): Promise<void> {
  const file = path.join(configDir, 'cluster-state.yaml');
  const docs = parseAllDocuments(await readFile(file, 'utf8')).map(
    (d) => d.toJS() as { kind: string; metadata: { name: string }; stringData?: Record<string, string> },
  );
  docs.find((d) => d.kind === 'Secret' && d.metadata.name === 'client-credential')!.stringData = data;
  await writeFile(path.join(configDir, '.cluster-state.yaml.tmp'), docs.map((d) => stringify(d)).join('---\n'));
  await rename(path.join(configDir, '.cluster-state.yaml.tmp'), file);
}

/** The seed's control plane with a push debounce no test reaches, the client sidecar and the egress gateway synced, and the pushes after that. */
async function syncedSeed(t: TestContext) {
  const { cp: plane, tokens, configDir } = await startSeedControlPlane(t, { debounceMs: 60_000 });
  const { gateway, pushes } = await syncClientAndGateway(t, plane, tokens);
  const served = (): string => {
    const s = (gateway.last(TypeUrl.Secret)!.resources as Secret[]).find((x) => x.name === 'kubernetes://client-credential');
    const chain = s?.tlsCertificate?.certificateChain;
    return chain?.inlineBytes ? Buffer.from(chain.inlineBytes, 'base64').toString('utf8') : (chain?.inlineString ?? '');
  };
  return { plane, configDir, pushes, served };
}

test('a gateway credential replaced by rename reaches the gateways holding it without waiting for the push debounce, as a Secret push alone; other proxies get nothing', async (t) => {
  const { plane, configDir, pushes, served } = await syncedSeed(t);
  const c = await newClientCredential();
  await replaceClientCredential(configDir, { 'tls.crt': c.leafPem, 'tls.key': c.keyPem, 'ca.crt': c.rootPem });
  await until(() => served().includes(c.leafPem.trim()), 'the gateway to be served the new credential');
  assert.deepEqual([...new Set(pushes.map((p) => p.node.id))], [egressGateway.id], 'only the gateway holding the credential was pushed');
  assert.deepEqual([...new Set(pushes.map((p) => p.typeUrl))], [TypeUrl.Secret], 'a rotation pushes the Secret alone');
  assert.match((await get(plane, '/metrics')).text, /^pilot_proxy_convergence_time_count\{push="credential"\} 1$/m);
});

test('a gateway credential replaced by one whose key is not its own is withdrawn at once, with what refers to it', async (t) => {
  const { configDir, pushes, served } = await syncedSeed(t);
  assert.notEqual(served(), '', 'the seed credential is served first');
  const c = await newClientCredential();
  await replaceClientCredential(configDir, { 'tls.crt': c.leafPem, 'tls.key': c.otherKeyPem, 'ca.crt': c.rootPem });
  // Not a Secret push alone: the gateway is regenerated whole, so the cluster that originated TLS with the
  // credential changes too — before the 60 s debounce.
  await until(() => pushes.some((p) => p.typeUrl === TypeUrl.Cluster), 'the gateway to be pushed its clusters again');
  assert.equal(served(), '', 'the unusable credential is not served');
  assert.deepEqual([...new Set(pushes.map((p) => p.node.id))], [egressGateway.id]);
});
