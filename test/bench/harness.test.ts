// The benchmark harness pieces that need no meshgate part: the HAProxy chain (config, real processes,
// real certificates, rotation), the loads' parsers, the figures and the result files.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { startEchoServer, startIperfServer } from '../../bench/backends.js';
import {
  generateBenchCertificates,
  issueBenchLeaf,
  issueIngressServerCredential,
  MYSQL_SNI,
  type BenchCertificates,
} from '../../bench/certs.js';
import { serviceYaml } from '../../bench/controlplane/generate.js';
import { renderHaproxyChainConfigs, startHaproxyChain, type HaproxyChainLayout } from '../../bench/haproxy-chain.js';
import { runChurn } from '../../bench/loads/churn.js';
import { runIperf } from '../../bench/loads/iperf.js';
import { presentedSerial, type TlsProbe } from '../../bench/loads/rotation.js';
import { parseSysbenchOutput } from '../../bench/loads/sysbench.js';
import { serverBackendAddress, writeCredentialSecret } from '../../bench/meshgate-chain.js';
import { freePorts } from '../../bench/ports.js';
import { cpuSeconds, rssKb } from '../../bench/procstat.js';
import { createResultWriter, missingFigures, renderTable, summarize, type Sample } from '../../bench/results.js';
import { figureSpecs, parseArgs } from '../../bench/run-config.js';
import { loadConfigText } from '../../src/config/load.js';

/** Sends a line over mutual TLS and resolves with the echo; rejects on an alert or a close without one. */
function echoOverTls(p: TlsProbe): Promise<string> {
  return new Promise((resolve, reject) => {
    const msg = 'ping-through-R-leg';
    const s = tls.connect({
      host: p.host,
      port: p.port,
      servername: p.servername,
      ca: p.caPem,
      cert: p.certPem,
      key: p.keyPem,
      minVersion: 'TLSv1.3',
    });
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('no echo and no alert within 5 s'));
    }, 5000);
    s.once('secureConnect', () => s.write(msg));
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.length >= msg.length) {
        clearTimeout(timer);
        s.destroy();
        resolve(got);
      }
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    s.once('close', () => {
      clearTimeout(timer);
      reject(new Error(`closed after ${got.length} bytes`));
    });
  });
}

const haveHaproxy = existsSync('/usr/sbin/haproxy');
const haveIperf = existsSync('/usr/bin/iperf3');

describe('HAProxy chain configuration', () => {
  const layout: HaproxyChainLayout = {
    dir: '/tmp/x',
    ports: { clientSidecar: 10001, egress: 10002, ingress: 10003, serverSidecar: 10004 },
    backend: { host: '127.0.0.1', port: 10005 },
    maxconn: 5000,
  };
  const configs = renderHaproxyChainConfigs(layout);

  it('renders four processes in path order with TLS 1.3 only', () => {
    assert.deepEqual(
      configs.map((c) => c.name),
      ['client-sidecar', 'egress-gateway', 'ingress-gateway', 'server-sidecar'],
    );
    for (const c of configs) {
      assert.match(c.text, /ssl-default-bind-options ssl-min-ver TLSv1\.3/, c.name);
      assert.match(c.text, /ssl-default-server-options ssl-min-ver TLSv1\.3/, c.name);
      assert.match(c.text, /^\s+mode tcp$/m, c.name);
    }
  });

  it('requires and verifies a client certificate on every TLS listener and presents one on every TLS upstream', () => {
    const binds = configs.flatMap((c) => c.text.split('\n').filter((l) => l.trim().startsWith('bind ') && l.includes(' ssl ')));
    const servers = configs.flatMap((c) => c.text.split('\n').filter((l) => l.trim().startsWith('server ') && l.includes(' ssl ')));
    assert.equal(binds.length, 3, 'egress, ingress and server sidecar terminate TLS');
    assert.equal(servers.length, 3, 'client sidecar, egress and ingress originate TLS');
    for (const l of [...binds, ...servers]) {
      assert.match(l, / crt \S+\.pem/, `certificate on: ${l}`);
      assert.match(l, / ca-file \S+\.pem verify required/, `verification on: ${l}`);
    }
  });

  it('uses the three trust chains on the right legs and SNI mysql.fqdn.example towards both gateways', () => {
    const [client, egress, ingress, server] = configs.map((c) => c.text) as [string, string, string, string];
    assert.match(client, /server egressgateway 127\.0\.0\.1:10002 ssl .*mesh-a-ca\.pem.*sni str\(mysql\.fqdn\.example\)/);
    assert.match(egress, /bind 127\.0\.0\.1:10002 ssl .*mesh-a-ca\.pem/);
    assert.match(
      egress,
      /server \S+ 127\.0\.0\.1:10003 ssl .*root-r-ca\.pem verify required verifyhost mysql\.fqdn\.example sni str\(mysql\.fqdn\.example\)/,
    );
    assert.match(ingress, /bind 127\.0\.0\.1:10003 ssl .*root-r-ca\.pem/);
    assert.match(ingress, /server \S+ 127\.0\.0\.1:10004 ssl .*mesh-b-ca\.pem/);
    assert.match(server, /bind 127\.0\.0\.1:10004 ssl .*mesh-b-ca\.pem/);
    assert.match(server, /server backend 127\.0\.0\.1:10005\s*$/m, 'the last hop is plain TCP');
    assert.match(client, /bind 127\.0\.0\.1:10001\s*$/m, 'the first hop is plain TCP');
  });
});

describe('HAProxy chain with real processes', { skip: haveHaproxy ? false : 'haproxy is not installed (apt-get install haproxy)' }, () => {
  let certs: BenchCertificates;
  const stops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const s of stops.reverse()) await s();
  });

  it('carries connect + echo + close through all four proxies', async () => {
    certs = await generateBenchCertificates();
    const [port] = (await freePorts(1)) as [number];
    const echo = await startEchoServer('127.0.0.1', port);
    stops.push(() => echo.stop());
    const chain = await startHaproxyChain({ certs, backend: { host: '127.0.0.1', port }, maxconn: 500, watchIngressCredential: true });
    stops.push(() => chain.stop());
    const res = await runChurn({ ...chain.clientTarget, connections: 40, concurrency: 4, maxSeconds: 20 });
    assert.equal(res.failures, 0, 'no connection through the chain failed');
    assert.equal(res.connections, 40);
    for (const p of chain.proxies) {
      assert.ok(rssKb(p.pid) > 0, `${p.name} has a resident set`);
      assert.ok(cpuSeconds(p.pid) >= 0, `${p.name} has CPU time`);
    }

    const probe = {
      ...chain.ingressTarget,
      servername: MYSQL_SNI,
      caPem: certs.root.certPem,
      certPem: certs.egressClient.certPem,
      keyPem: certs.egressClient.keyPem,
    };
    assert.equal(await presentedSerial(probe), certs.ingressServer.serialHex, 'the ingress presents its R-signed credential');

    // The gateway-to-gateway leg carries bytes for an R-signed client and refuses a client certificate from
    // another root (mesh A instead of R). In TLS 1.3 the server judges the client's certificate after the
    // client's handshake is done, so the refusal shows as an alert instead of an echo.
    assert.equal(await echoOverTls(probe), 'ping-through-R-leg');
    const wrongRoot = await issueBenchLeaf(certs.meshA, { commonName: 'intruder', usage: 'client' });
    await assert.rejects(echoOverTls({ ...probe, certPem: wrongRoot.certPem, keyPem: wrongRoot.keyPem }), /certificate|alert|closed/i);

    // Rotation: a new credential written to disk is presented on new connections without a restart.
    const next = await issueIngressServerCredential(certs.root);
    const pidsBefore = chain.proxies.map((p) => p.pid);
    await chain.writeIngressCredential(next);
    let seen = '';
    for (let i = 0; i < 100 && seen !== next.serialHex; i++) {
      await new Promise((r) => setTimeout(r, 50));
      seen = await presentedSerial(probe);
    }
    assert.equal(seen, next.serialHex, 'the rotated credential is presented within 5 s');
    assert.deepEqual(
      chain.proxies.map((p) => p.pid),
      pidsBefore,
    );
    const again = await runChurn({ ...chain.clientTarget, connections: 10, concurrency: 2, maxSeconds: 20 });
    assert.equal(again.failures, 0, 'the chain still carries traffic after rotation');
  });
});

describe('load parsers', () => {
  it('reads qps, average and histogram percentiles from a sysbench report', () => {
    const report = [
      'SQL statistics:',
      '    queries performed:',
      '        read:                            1000',
      '    queries:                             1000   (500.00 per sec.)',
      '    ignored errors:                      2      (1.00 per sec.)',
      'Latency histogram (values are in milliseconds)',
      '       value  ------------- distribution ------------- count',
      '       0.100 |****************************************  900',
      '       0.200 |****                                       80',
      '       1.000 |*                                          20',
      'Latency (ms):',
      '         min:                                    0.09',
      '         avg:                                    0.15',
    ].join('\n');
    const r = parseSysbenchOutput(report, 4);
    assert.deepEqual(r, { threads: 4, queries: 1000, qps: 500, avgMs: 0.15, p95Ms: 0.2, p99Ms: 1, errors: 2 });
  });

  it(
    'measures iperf3 bulk throughput in both directions',
    { skip: haveIperf ? false : 'iperf3 is not installed (apt-get install iperf3)' },
    async (t) => {
      const [port] = (await freePorts(1)) as [number];
      const server = await startIperfServer('127.0.0.1', port);
      t.after(() => server.stop());
      const up = await runIperf({ host: '127.0.0.1', port, seconds: 1, reverse: false });
      assert.ok(up.bytes > 0 && up.megabytesPerSecond > 0, 'upload moved bytes');
      await new Promise((r) => setTimeout(r, 300));
      const down = await runIperf({ host: '127.0.0.1', port, seconds: 1, reverse: true });
      assert.ok(down.bytes > 0, 'download moved bytes');
    },
  );
});

describe('figures and result files', () => {
  const config = parseArgs(['--quick'], '/unused');
  const specs = figureSpecs(config);

  it('quick mode names every load once, each figure unique', () => {
    const names = specs.map((s) => s.name);
    assert.equal(new Set(names).size, names.length);
    for (const prefix of [
      'sysbench_point_select_t1_qps',
      'sysbench_point_select_t16_qps',
      'bulk_upload_mb_per_s',
      'bulk_download_cpu_s_per_gib',
      'churn_conns_per_s',
      'rotation_ms',
      'controlplane_first_push_s',
    ]) {
      assert.ok(names.includes(prefix), `${prefix} is a figure`);
    }
    assert.ok(names.some((n) => /^idle_\d+_kb_per_conn_per_proxy$/.test(n)));
    assert.throws(() => parseArgs(['--only', 'nope'], '/x'), /unknown load/);
  });

  it('takes the median per chain, the ratio meshgate/HAProxy, and writes latest.json in the issue shape', async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'meshgate-bench-test-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const mini = specs.filter(
      (s) => s.name === 'churn_conns_per_s' || s.name === 'churn_cpu_ms_per_conn' || s.name === 'controlplane_rss_mb',
    );
    const samples: Sample[] = [
      ...[100, 300, 200].map((value, repeat) => ({ figure: 'churn_conns_per_s', chain: 'meshgate' as const, repeat, value })),
      ...[400, 250, 100].map((value, repeat) => ({ figure: 'churn_conns_per_s', chain: 'haproxy' as const, repeat, value })),
      { figure: 'churn_conns_per_s', chain: 'direct', repeat: 0, value: 4000 },
      { figure: 'churn_cpu_ms_per_conn', chain: 'haproxy', repeat: 0, value: 5 },
      { figure: 'controlplane_rss_mb', chain: 'meshgate', repeat: 0, value: 321 },
    ];
    const figures = summarize(mini, samples);
    const churn = figures.find((f) => f.name === 'churn_conns_per_s')!;
    assert.deepEqual(churn, {
      name: 'churn_conns_per_s',
      unit: 'conn/s',
      better: 'higher',
      meshgate: 200,
      haproxy: 250,
      direct: 4000,
      ratio: 0.8,
    });
    const cpu = figures.find((f) => f.name === 'churn_cpu_ms_per_conn')!;
    assert.equal(cpu.meshgate, null);
    assert.equal(cpu.ratio, null);
    assert.equal(cpu.direct, null, 'CPU of proxies has no direct value');
    assert.deepEqual(missingFigures(mini, figures), ['churn_cpu_ms_per_conn (meshgate)']);
    assert.deepEqual(missingFigures(mini, figures, ['haproxy', 'direct']), [], 'only the chains that ran are checked');
    assert.match(renderTable(mini, figures, samples), /new connections.*\|\s+200 \|\s+250 \|\s+4,000 \|\s+0\.80×/);

    const writer = await createResultWriter(dir, new Date('2026-01-02T03:04:05Z'));
    await writer.record({ kind: 'sample', value: 1 });
    const machine = {
      cpu: 'x',
      cores: 2,
      memoryMb: 1,
      kernel: 'k',
      platform: 'linux x64',
      nofileLimit: 20000,
      versions: { node: process.version },
    };
    const file = await writer.writeLatest({ date: '2026-01-02T03:04:05.000Z', machine, quick: true, figures });
    const latest = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(latest), ['date', 'machine', 'quick', 'figures']);
    assert.equal(latest.quick, true);
    for (const f of latest.figures as Record<string, unknown>[]) {
      assert.deepEqual(Object.keys(f), ['name', 'unit', 'better', 'meshgate', 'haproxy', 'direct', 'ratio']);
    }
    const lines = (await readFile(writer.rawFile, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; run: string });
    assert.deepEqual(
      lines.map((l) => l.kind),
      ['sample', 'summary'],
    );
    assert.ok(lines.every((l) => l.run === writer.runId));
  });
});

describe('meshgate chain plumbing', () => {
  it("finds where the server's application must listen from the lab's Sidecar object", async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'meshgate-bench-test-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const workload = { name: 'mysql', namespace: 'default', address: '127.9.2.3' };
    assert.deepEqual(await serverBackendAddress(dir, workload, 3306), { host: '127.9.2.3', port: 3306 }, 'no Sidecar: the pod address');
    await writeFile(
      path.join(dir, 'lab-sidecars.yaml'),
      [
        'apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: lab-client, namespace: default}\nspec:\n  ingress: [{port: {number: 3306}, defaultEndpoint: "127.0.0.1:1111"}]\n',
        'apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: lab-mysql, namespace: default}\nspec:\n  ingress: [{port: {number: 3306, protocol: TCP, name: tcp-3306}, defaultEndpoint: "127.0.0.1:45678"}]\n',
      ].join('---\n'),
    );
    assert.deepEqual(await serverBackendAddress(dir, workload, 3306), { host: '127.0.0.1', port: 45678 });
    await assert.rejects(serverBackendAddress(dir, workload, 5432), /no Sidecar ingress/);
  });
});

describe('gateway credential Secrets for the meshgate chain', () => {
  it('replaces a credential in place, keeping metadata and the -cacert companion', async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'meshgate-bench-test-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await mkdir(path.join(dir, 'lab-secrets'));
    const file = path.join(dir, 'lab-secrets', 'mysql-credential.yaml');
    await writeFile(
      file,
      'apiVersion: v1\nkind: Secret\nmetadata: {name: mysql-credential, namespace: istio-system}\nstringData: {tls.crt: old, tls.key: old}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: mysql-credential-cacert, namespace: istio-system}\nstringData: {ca.crt: old}\n',
    );
    const certs = await generateBenchCertificates();
    await writeCredentialSecret(dir, 'mysql-credential', certs.ingressServer, certs.root.certPem);
    const docs = parseAllDocuments(await readFile(file, 'utf8')).map(
      (d) => d.toJS() as { metadata: { name: string; namespace: string }; data: Record<string, string>; stringData?: unknown },
    );
    assert.deepEqual(
      docs.map((d) => `${d.metadata.namespace}/${d.metadata.name}`),
      ['istio-system/mysql-credential', 'istio-system/mysql-credential-cacert'],
    );
    const text = (b: string | undefined): string => Buffer.from(b ?? '', 'base64').toString();
    assert.equal(text(docs[0]!.data['tls.crt']), certs.ingressServer.certPem);
    assert.equal(text(docs[0]!.data['tls.key']), certs.ingressServer.keyPem);
    assert.equal(docs[0]!.data['ca.crt'], undefined, 'the CA lives in the companion');
    assert.equal(text(docs[1]!.data['ca.crt']), certs.root.certPem);
    assert.ok(
      docs.every((d) => d.stringData === undefined),
      'no stale stringData left',
    );
  });
});

describe('control-plane benchmark config', () => {
  it('generates services that the config loader accepts without errors', () => {
    const res = loadConfigText(serviceYaml(7) + serviceYaml(1234, 3), 'bench-services.yaml');
    const errors = res.diagnostics.filter((d) => d.level === 'Error');
    assert.deepEqual(errors, []);
    assert.deepEqual(
      res.objects.map((o) => o.object.kind),
      ['ServiceEntry', 'DestinationRule', 'VirtualService', 'ServiceEntry', 'DestinationRule', 'VirtualService'],
    );
  });
});
