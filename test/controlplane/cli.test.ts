// `meshgate control-plane` as a real process and `meshgate proxy-status` against it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatProxyStatus, type Syncz } from '../../src/cli/proxy-status.js';
import { AdsClient } from '../../src/xds/client/ads-client.js';
import { TypeUrl } from '../../src/envoy/envoy-types.js';
import { edsNamesOf } from '../../src/xds/snapshot-cache.js';
import { formatNodeId } from '../../src/envoy/node.js';
import { TokenIssuer } from '../../src/pki/workload-token.js';
import { writeClusterAConfig } from './seed-config.js';
import { repoRoot } from '../repo-root.js';

const ISSUER = 'https://kubernetes.default.svc.cluster.local';
const here = fileURLToPath(import.meta.url);

/**
 * How to run the CLI: the compiled entry from dist/ (what `npm test` runs), or — in the tsx dev loop,
 * where main.ts cannot find package.json relative to itself — the two commands registered the same way.
 */
function cliCommand(): string[] {
  if (!here.endsWith('.ts')) return [path.join(path.dirname(here), '..', '..', 'src', 'cli', 'main.js')];
  const src = (f: string): string => JSON.stringify(path.join(repoRoot(), 'src', 'cli', f));
  const script = [
    "import { Command } from 'commander';",
    `import { registerControlPlaneCommand } from ${src('control-plane.ts')};`,
    `import { registerProxyStatusCommand } from ${src('proxy-status.ts')};`,
    "const p = new Command('meshgate'); registerControlPlaneCommand(p); registerProxyStatusCommand(p);",
    "p.parseAsync(process.argv.slice(1), { from: 'user' }).catch((e) => { process.stderr.write(`meshgate: [${e.code}] ${e.message}\\n`); process.exit(1); });",
  ].join('\n');
  return ['--import', 'tsx', '--input-type=module', '-e', script, '--'];
}

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...cliCommand(), ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('formats proxy status like istioctl (ISTIOD and VERSION columns, -o wide adds identity and snapshot), marking a NACKed type and its reason', () => {
  const s: Syncz = {
    cluster: 'cluster-a',
    proxies: [
      {
        proxy: 'router~10.0.0.1~gw.istio-system~istio-system.svc.cluster.local',
        name: 'gw.istio-system',
        clusterId: 'cluster-a',
        role: 'router',
        namespace: 'istio-system',
        serviceAccount: 'gw',
        identity: 'spiffe://cluster.local/ns/istio-system/sa/gw',
        authenticatedBy: 'token',
        peerAddress: '127.0.0.1:5000',
        connectedAt: '2026-01-01T00:00:00.000Z',
        snapshotVersion: '7',
        types: {
          cds: { state: 'SYNCED', sent: 'a', acked: 'a' },
          lds: { state: 'STALE', sent: 'b', acked: 'c', nacked: 'b', error: 'port in use' },
          eds: { state: 'SYNCED' },
          sds: { state: 'NOT SENT' },
          nds: { state: 'NOT SENT' },
        },
      },
    ],
  };
  assert.equal(
    formatProxyStatus({ ...s, controlPlane: '127.0.0.1:15014' }),
    [
      'NAME              CLUSTER     CDS      LDS            EDS      SDS        ISTIOD            VERSION',
      'gw.istio-system   cluster-a   SYNCED   STALE (NACK)   SYNCED   NOT SENT   127.0.0.1:15014   -',
      '',
      'gw.istio-system LDS rejected version b: port in use',
      '',
    ].join('\n'),
  );
  const wide = formatProxyStatus({ ...s, proxies: [{ ...s.proxies[0]!, istioVersion: '1.24.0' }] }, { wide: true });
  assert.match(wide, /^NAME\s+CLUSTER\s+CDS\s+LDS\s+EDS\s+SDS\s+ISTIOD\s+VERSION\s+IDENTITY\s+SNAPSHOT$/m);
  assert.match(
    wide,
    /gw\.istio-system\s+cluster-a\s+SYNCED\s+STALE \(NACK\)\s+SYNCED\s+NOT SENT\s+-\s+1\.24\.0\s+spiffe:\/\/cluster\.local\/ns\/istio-system\/sa\/gw\s+7$/m,
  );
});

test('meshgate control-plane refuses a --gateway-service-account that is not NAMESPACE/NAME, before starting anything', async () => {
  const r = await runCli([
    'control-plane',
    '--config',
    '.',
    '--cluster-id',
    'c',
    '--gateway-service-account',
    'istio-system/istio-ingressgateway-service-account',
    '--gateway-service-account',
    'istio-egressgateway-service-account',
  ]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[E_CLI_USAGE\] --gateway-service-account: "istio-egressgateway-service-account" is not NAMESPACE\/NAME/);
});

test('meshgate control-plane runs until SIGTERM and meshgate proxy-status lists the connected proxy', { timeout: 120_000 }, async (t) => {
  const work = await mkdtemp(path.join(tmpdir(), 'meshgate-cli-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const configDir = path.join(work, 'config');
  await writeClusterAConfig(configDir);
  const tokens = await TokenIssuer.create(ISSUER);
  await writeFile(path.join(work, 'issuer.pub'), tokens.publicKeyPem());
  const stateDir = path.join(work, 'state');
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...cliCommand(),
      'control-plane',
      '--config',
      configDir,
      '--cluster-id',
      'cluster-a',
      '--trust-domain',
      'cluster.local',
      '--listen',
      '127.0.0.1:0',
      '--http-listen',
      '127.0.0.1:0',
      '--state-dir',
      stateDir,
      '--token-public-key',
      path.join(work, 'issuer.pub'),
      '--token-issuer',
      ISSUER,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let exited: { code: number | null; signal: string | null } | undefined;
  const exit = new Promise<void>((resolve) =>
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    }),
  );
  t.after(async () => {
    if (!exited) {
      child.kill('SIGKILL');
      await exit;
    }
  });
  let stderr = '';
  const serving = await new Promise<{ xds: string; http: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`control plane did not start within 60 s; stderr:\n${stderr}`)), 60_000);
    child.stderr!.on('data', (b: Buffer) => {
      stderr += b.toString();
      for (const line of stderr.split('\n')) {
        if (!line.includes('"control plane serving"')) continue;
        clearTimeout(timer);
        resolve(JSON.parse(line) as { xds: string; http: string });
      }
    });
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`control plane exited early; stderr:\n${stderr}`));
    });
  });
  const empty = await runCli(['proxy-status', '--control-plane', `http://${serving.http}`]);
  assert.equal(empty.code, 0, empty.stderr);
  assert.match(empty.stdout, /no proxies are connected to the control plane of cluster cluster-a/);

  const n = {
    role: 'sidecar' as const,
    ips: ['10.10.0.5'],
    podName: 'mysql-client-7d9f6c',
    namespace: 'default',
    domainSuffix: 'cluster.local',
  };
  let listeners = 0;
  const client: AdsClient = new AdsClient({
    address: serving.xds,
    rootCertPem: await readFile(path.join(stateDir, 'root-cert.pem'), 'utf8'),
    node: {
      ...n,
      id: formatNodeId(n),
      serviceAccount: 'mysql-client',
      labels: { app: 'mysql-client' },
      clusterId: 'cluster-a',
      interceptionMode: 'REDIRECT',
    },
    credentials: async () => ({ token: await tokens.mint({ namespace: 'default', serviceAccount: 'mysql-client', ttlSeconds: 600 }) }),
    onResources: async (typeUrl, resources) => {
      if (typeUrl === TypeUrl.Cluster) client.setSubscription(TypeUrl.ClusterLoadAssignment, edsNamesOf(resources));
      if (typeUrl === TypeUrl.Listener) listeners++;
    },
  });
  t.after(() => client.close());
  client.start();
  const deadline = Date.now() + 30_000;
  let table = '';
  while (Date.now() < deadline) {
    const r = await runCli(['proxy-status', '--control-plane', serving.http]);
    table = r.stdout;
    if (listeners > 0 && /mysql-client-7d9f6c\.default\s+cluster-a\s+SYNCED\s+SYNCED\s+SYNCED\s+NOT SENT/.test(table)) break;
    await new Promise((r2) => setTimeout(r2, 200));
  }
  assert.match(table, /^NAME\s+CLUSTER\s+CDS\s+LDS\s+EDS\s+SDS\s+ISTIOD\s+VERSION$/m);
  assert.match(
    table,
    new RegExp(
      `mysql-client-7d9f6c\\.default\\s+cluster-a\\s+SYNCED\\s+SYNCED\\s+SYNCED\\s+NOT SENT\\s+${serving.http.replace(/\./g, '\\.')}\\s+-$`,
      'm',
    ),
  );
  const bad = await runCli(['proxy-status', '--control-plane', serving.http, '-o', 'table']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /\[E_CLI_USAGE\] unknown output format "table" for "meshgate proxy-status": use one of short, wide, json, yaml/);
  const json = await runCli(['proxy-status', '--control-plane', serving.http, '-o', 'json']);
  assert.equal((JSON.parse(json.stdout) as Syncz).proxies[0]!.identity, 'spiffe://cluster.local/ns/default/sa/mysql-client');

  await client.close();
  child.kill('SIGTERM');
  await exit;
  assert.deepEqual(exited, { code: 0, signal: null }, stderr);
  assert.match(stderr, /"msg":"stopped"/);
  const down = await runCli(['proxy-status', '--control-plane', serving.http]);
  assert.notEqual(down.code, 0);
  assert.match(down.stderr, /E_PROXY_STATUS.*cannot reach the control plane/);
});

test('proxy-status never prints a private key, even one a NACK reason quotes', async (t) => {
  const { generateKeyPair } = await import('../../src/pki/keys.js');
  const { privateKeyPem } = await generateKeyPair();
  const syncz: Syncz = {
    cluster: 'cluster-a',
    proxies: [
      {
        proxy: 'router~10.0.0.1~gw.istio-system~istio-system.svc.cluster.local',
        name: 'gw.istio-system',
        clusterId: 'cluster-a',
        role: 'router',
        namespace: 'istio-system',
        serviceAccount: 'gw',
        identity: 'spiffe://cluster.local/ns/istio-system/sa/gw',
        authenticatedBy: 'token',
        peerAddress: '127.0.0.1:5000',
        connectedAt: '2026-01-01T00:00:00.000Z',
        types: { sds: { state: 'STALE', sent: 'b', nacked: 'b', error: `secret "kubernetes://cred": cannot load ${privateKeyPem}` } },
      } as unknown as Syncz['proxies'][number],
    ],
  };
  // A control plane (another build) whose /debug/syncz hands the reason on as the proxy wrote it.
  const http = await import('node:http');
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(syncz));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  for (const o of ['short', 'wide', 'json', 'yaml']) {
    const r = await runCli(['proxy-status', '--control-plane', url, '-o', o]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /cannot load \[redacted\]/, o);
    assert.doesNotMatch(r.stdout, /PRIVATE KEY/, o);
  }
});
