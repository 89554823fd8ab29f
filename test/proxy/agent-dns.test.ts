// The agent's DNS proxy (Istio's DNS capture in pilot-agent) against a real control plane in the test:
// with `dns` in the bootstrap the agent subscribes to NDS over ADS and answers the ServiceEntry host
// from the name table (its auto-allocated 240.240.x.x VIP) on UDP and TCP, forwards every other name to
// the upstream resolver, follows a new name table, and stops answering when stopped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { snapshotFromResources } from '../../src/xds/snapshot-cache.js';
import { formatNodeId, type ProxyNode } from '../../src/envoy/node.js';
import { ProxyAgent } from '../../src/proxy/agent.js';
import { loadBootstrap, parseDnsUpstream } from '../../src/proxy/bootstrap.js';
import { buildNameTable } from '../../src/model/name-table.js';
import { DnsRcode, DnsType, decodeMessage, encodeQuery } from '../../src/capture/dns-wire.js';
import type { ServiceEntry } from '../../src/config/types.js';
import { snapshotOf } from '../model/fixtures.js';
import { queryTcp, queryUdp, startTestDnsServer } from '../capture/dns-test-server.js';
import { startControlPlane } from './control-plane-fixture.js';
import { waitFor } from './helpers.js';

function serviceEntry(host: string): ServiceEntry {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'ServiceEntry',
    metadata: { name: host.split('.')[0]!, namespace: 'app' },
    spec: { hosts: [host], ports: [{ number: 3306, name: 'tcp', protocol: 'TCP' }], resolution: 'DNS', location: 'MESH_EXTERNAL' },
  };
}

let nextId = 1;
async function ask(addr: { address: string; port: number }, name: string, proto: 'udp' | 'tcp' = 'udp') {
  const id = nextId++;
  const query = encodeQuery(id, name, DnsType.A);
  const raw = proto === 'udp' ? await queryUdp(addr, query) : (await queryTcp(addr, [query]))[0]!;
  const msg = decodeMessage(raw);
  assert.equal(msg.header.id, id);
  return msg;
}

test('bootstrap dns: upstream entries parse as ip or ip:port, bad ones are refused with the field named', async (t) => {
  assert.deepEqual(parseDnsUpstream('198.18.1.1'), { address: '198.18.1.1', port: 53 });
  assert.deepEqual(parseDnsUpstream('127.0.0.1:5353'), { address: '127.0.0.1', port: 5353 });
  assert.deepEqual(parseDnsUpstream('[::1]:5353'), { address: '::1', port: 5353 });
  assert.deepEqual(parseDnsUpstream('::1'), { address: '::1', port: 53 });
  assert.throws(() => parseDnsUpstream('kube-dns:53'), /not an IP address/);
  const dir = mkdtempSync(path.join(tmpdir(), 'meshgate-agent-dns-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const base = [
    'node: { role: sidecar, ips: ["127.0.0.1"], podName: p, namespace: app, serviceAccount: sa }',
    'discoveryAddress: "127.0.0.1:1"',
    'rootCertFile: r',
    'tokenFile: t',
    'trustDomain: cluster.local',
  ];
  writeFileSync(path.join(dir, 'bad.yaml'), [...base, 'dns: { upstream: ["resolver.example"] }', ''].join('\n'));
  await assert.rejects(
    loadBootstrap(path.join(dir, 'bad.yaml')),
    (err: Error & { code?: string }) =>
      err.code === 'E_BOOTSTRAP_INVALID' && /dns\.upstream: "resolver\.example" is not an IP/.test(err.message),
  );
  writeFileSync(path.join(dir, 'port.yaml'), [...base, 'dns: { port: 70000 }', ''].join('\n'));
  await assert.rejects(loadBootstrap(path.join(dir, 'port.yaml')), /dns\.port: must be a port number/);
  writeFileSync(path.join(dir, 'good.yaml'), [...base, 'dns: { port: 15053, upstream: ["127.0.0.1:5353"] }', ''].join('\n'));
  assert.deepEqual((await loadBootstrap(path.join(dir, 'good.yaml'))).dns, { port: 15053, upstream: ['127.0.0.1:5353'] });
});

test('agent with dns: the ServiceEntry host is answered from NDS with its VIP, other names go upstream, a new table is followed', async (t) => {
  const cp = await startControlPlane(t);
  const upstream = await startTestDnsServer('127.0.0.1');
  t.after(() => upstream.close());
  const dir = mkdtempSync(path.join(tmpdir(), 'meshgate-agent-dns-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'root-cert.pem'), cp.ca.rootBundlePem());
  writeFileSync(path.join(dir, 'token'), await cp.tokens.mint({ namespace: 'app', serviceAccount: 'client', ttlSeconds: 600 }));
  // The pod's resolv.conf gives the search domains; the upstream comes from the bootstrap.
  writeFileSync(path.join(dir, 'resolv.conf'), 'nameserver 192.0.2.53\nsearch app.svc.cluster.local svc.cluster.local cluster.local\n');
  const n = {
    role: 'sidecar' as const,
    ips: ['127.0.0.1'],
    podName: 'client-6d8f9-abcde',
    namespace: 'app',
    domainSuffix: 'cluster.local',
  };
  const node: ProxyNode = { ...n, id: formatNodeId(n), serviceAccount: 'client', labels: { app: 'client' }, clusterId: 'cluster-a' };
  writeFileSync(
    path.join(dir, 'bootstrap.yaml'),
    [
      'node:',
      `  id: "${node.id}"`,
      '  role: sidecar',
      '  ips: ["127.0.0.1"]',
      `  podName: ${node.podName}`,
      '  namespace: app',
      '  serviceAccount: client',
      '  labels: { app: client }',
      '  clusterId: cluster-a',
      `discoveryAddress: "${cp.address}"`,
      'rootCertFile: root-cert.pem',
      'tokenFile: token',
      'trustDomain: cluster.local',
      'admin: { address: 127.0.0.1, port: 0 }',
      'drainTimeoutSeconds: 1',
      `dns: { port: 0, upstream: ["127.0.0.1:${upstream.port}"] }`,
      '',
    ].join('\n'),
  );
  const bootstrap = await loadBootstrap(path.join(dir, 'bootstrap.yaml'));
  const config1 = snapshotOf([serviceEntry('mysql.fqdn.example')]);
  const table1 = buildNameTable(config1, node);
  const vip = table1.table['mysql.fqdn.example']?.ips[0];
  assert.match(vip ?? '', /^240\.240\.\d+\.\d+$/, 'the ServiceEntry without addresses gets an auto-allocated VIP');
  cp.cache.setSnapshot(node.id, snapshotFromResources('v1', { listeners: [], clusters: [], endpoints: [], secrets: [] }, table1));

  const agent = new ProxyAgent(
    { ...bootstrap, accessLog: { path: path.join(dir, 'access.log') } },
    { log: () => undefined, adsBackoff: { initialMs: 50, maxMs: 200 }, resolvConf: path.join(dir, 'resolv.conf') },
  );
  t.after(() => agent.stop(0));
  await agent.start();
  const addr = agent.dns?.address;
  assert.ok(addr, 'the DNS proxy listens once start() returns');
  assert.equal(addr.address, '127.0.0.1');

  await waitFor(() => agent.nameTable !== undefined, 30_000, 'the name table arrives over NDS');
  const nds = agent.ads!.status()['type.googleapis.com/istio.networking.nds.v1.NameTable'];
  assert.ok(nds && nds.ackedVersion !== '' && nds.lastError === undefined, 'NDS is subscribed and ACKed');
  for (const proto of ['udp', 'tcp'] as const) {
    const mesh = await ask(addr, 'mysql.fqdn.example', proto);
    assert.equal(mesh.header.rcode, DnsRcode.NOERROR, proto);
    assert.deepEqual(
      mesh.answers.map((a) => a.data),
      [vip],
      `${proto}: answered with the VIP from NDS`,
    );
  }
  assert.deepEqual(upstream.seen, [], 'mesh names never go upstream');

  const other = await ask(addr, 'example.org');
  assert.deepEqual(
    other.answers.map((a) => a.data),
    ['192.0.2.10'],
    'other names are answered by the upstream resolver',
  );
  assert.deepEqual(upstream.seen, ['udp example.org. 1']);
  const missing = await ask(addr, 'nothing.example.org', 'tcp');
  assert.equal(missing.header.rcode, DnsRcode.NXDOMAIN, "the upstream's NXDOMAIN is passed on");
  assert.equal(agent.dns!.stats.answered, 2);
  assert.equal(agent.dns!.stats.forwarded, 2);

  // A config change: the new host resolves from the next table, the removed one goes upstream.
  const table2 = buildNameTable(snapshotOf([serviceEntry('pg.fqdn.example')]), node);
  cp.cache.setSnapshot(node.id, snapshotFromResources('v2', { listeners: [], clusters: [], endpoints: [], secrets: [] }, table2));
  await waitFor(() => agent.nameTable?.table['pg.fqdn.example'] !== undefined, 30_000, 'the second name table');
  assert.deepEqual(
    (await ask(addr, 'pg.fqdn.example')).answers.map((a) => a.data),
    table2.table['pg.fqdn.example']!.ips,
  );
  const gone = await ask(addr, 'mysql.fqdn.example');
  assert.equal(gone.header.rcode, DnsRcode.NXDOMAIN, 'a host no longer in the table is left to upstream, which does not know it');
  assert.ok(
    upstream.seen.some((q) => q === 'udp mysql.fqdn.example. 1'),
    'the removed host was asked upstream',
  );

  await agent.stop(0);
  await assert.rejects(
    queryUdp(addr, encodeQuery(nextId++, 'mysql.fqdn.example', DnsType.A), 500),
    'the DNS proxy is closed with the agent',
  );
});

test('agent without dns in the bootstrap neither listens for DNS nor subscribes to NDS', async (t) => {
  const cp = await startControlPlane(t);
  const dir = mkdtempSync(path.join(tmpdir(), 'meshgate-agent-dns-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'root-cert.pem'), cp.ca.rootBundlePem());
  writeFileSync(path.join(dir, 'token'), await cp.tokens.mint({ namespace: 'app', serviceAccount: 'client', ttlSeconds: 600 }));
  const n = { role: 'sidecar' as const, ips: ['127.0.0.1'], podName: 'plain-1', namespace: 'app', domainSuffix: 'cluster.local' };
  const node: ProxyNode = { ...n, id: formatNodeId(n), serviceAccount: 'client', labels: {}, clusterId: 'cluster-a' };
  cp.cache.setSnapshot(
    node.id,
    snapshotFromResources(
      'v1',
      { listeners: [], clusters: [], endpoints: [], secrets: [] },
      buildNameTable(snapshotOf([serviceEntry('mysql.fqdn.example')]), node),
    ),
  );
  const agent = new ProxyAgent(
    {
      node,
      discoveryAddress: cp.address,
      rootCertFile: path.join(dir, 'root-cert.pem'),
      tokenFile: path.join(dir, 'token'),
      trustDomain: 'cluster.local',
      admin: { address: '127.0.0.1', port: 0 },
      accessLog: { path: path.join(dir, 'access.log') },
    },
    { log: () => undefined, adsBackoff: { initialMs: 50, maxMs: 200 } },
  );
  t.after(() => agent.stop(0));
  await agent.start();
  await waitFor(() => agent.proxy.isReady(), 30_000, 'CDS and LDS applied');
  assert.equal(agent.dns, undefined);
  assert.equal(agent.nameTable, undefined);
  assert.ok(!Object.keys(agent.ads!.status()).includes('type.googleapis.com/istio.networking.nds.v1.NameTable'), 'no NDS subscription');
});
