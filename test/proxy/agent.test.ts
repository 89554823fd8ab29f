// The agent end to end against a real control plane in the same process: the CA service and ADS on one
// gRPC server over TLS (istiod's shape). The agent gets its workload certificate with its token, serves
// it as `default`/`ROOTCA`, applies CDS/EDS/LDS, proxies traffic, NACKs an update the proxy refuses while
// the old config keeps serving, and exposes admin (/config_dump, /stats/prometheus, /certs, /ready).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { snapshotFromResources } from '../../src/xds/snapshot-cache.js';
import { startControlPlane } from './control-plane-fixture.js';
import { formatNodeId, type ProxyNode } from '../../src/envoy/node.js';
import { ProxyAgent } from '../../src/proxy/agent.js';
import { loadBootstrap } from '../../src/proxy/bootstrap.js';
import type { Cluster, ClusterLoadAssignment, Listener } from '../../src/envoy/envoy-types.js';
import { TypeUrl } from '../../src/envoy/envoy-types.js';
import { echoServer, roundTrip, tcpProxyFilter, waitFor } from './helpers.js';

test('agent: workload certificate from the CA, CDS/EDS/LDS applied, traffic flows, a refused update is NACKed, admin answers', async (t) => {
  const cp = await startControlPlane(t);
  const echo = await echoServer(t);
  const dir = mkdtempSync(path.join(tmpdir(), 'meshgate-agent-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'root-cert.pem'), cp.ca.rootBundlePem());
  writeFileSync(path.join(dir, 'token'), await cp.tokens.mint({ namespace: 'app', serviceAccount: 'client', ttlSeconds: 600 }));
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
      '',
    ].join('\n'),
  );
  const bootstrap = await loadBootstrap(path.join(dir, 'bootstrap.yaml'));
  assert.equal(bootstrap.rootCertFile, path.join(dir, 'root-cert.pem'));
  const lines: string[] = [];
  const agent = new ProxyAgent(
    { ...bootstrap, accessLog: { path: path.join(dir, 'access.log') } },
    { log: (_l, m) => lines.push(m), adsBackoff: { initialMs: 50, maxMs: 200 } },
  );
  t.after(() => agent.stop(0));

  // A listener on a port picked now; the cluster is EDS so the agent must follow with an EDS subscription.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const lport = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const cluster: Cluster = {
    name: 'outbound|3306||db.app.svc.cluster.local',
    type: 'EDS',
    edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' } },
    connectTimeout: '1s',
  };
  const cla: ClusterLoadAssignment = {
    clusterName: cluster.name,
    endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: echo.port } } } }] }],
  };
  const good: Listener = {
    name: `127.0.0.1_${lport}`,
    address: { socketAddress: { address: '127.0.0.1', portValue: lport } },
    filterChains: [{ filters: [tcpProxyFilter(cluster.name)] }],
    trafficDirection: 'OUTBOUND',
  };
  cp.cache.setSnapshot(node.id, snapshotFromResources('v1', { listeners: [good], clusters: [cluster], endpoints: [cla], secrets: [] }));

  await agent.start();
  assert.ok(
    agent.proxy.certs().some((c) => c.name === 'default' && c.sans.includes('URI:spiffe://cluster.local/ns/app/sa/client')),
    'the workload certificate carries the SPIFFE id',
  );
  await waitFor(() => agent.proxy.isReady() && agent.proxy.listenerAddress(good.name) !== undefined, 30_000, 'LDS and CDS applied');
  await waitFor(
    async () => (await roundTrip(lport, 'through the agent')).echoed === 'through the agent',
    30_000,
    'traffic once EDS arrived',
  );

  // v2 adds a listener on a port that is taken: the proxy applies the rest and leaves that one out, the
  // agent NACKs naming it (Envoy's listener manager), v1's listener keeps serving.
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => blocker.close(() => r())));
  const taken = (blocker.address() as net.AddressInfo).port;
  const bad: Listener = { ...good, name: `127.0.0.1_${taken}`, address: { socketAddress: { address: '127.0.0.1', portValue: taken } } };
  const nack = new Promise<{ error: string }>((resolve) => agent.ads!.on('nack', resolve));
  cp.cache.setSnapshot(
    node.id,
    snapshotFromResources('v2', { listeners: [good, bad], clusters: [cluster], endpoints: [cla], secrets: [] }),
  );
  const { error } = await nack;
  assert.match(error, new RegExp(`listener "127.0.0.1_${taken}": cannot bind 127\\.0\\.0\\.1:${taken}: .*EADDRINUSE`));
  assert.equal((await roundTrip(lport, 'old config')).echoed, 'old config');

  const admin = `http://127.0.0.1:${agent.admin!.port}`;
  const dump = (await (await fetch(`${admin}/config_dump`)).json()) as {
    configs: {
      '@type': string;
      dynamicListeners?: { name: string; activeState?: { versionInfo: string }; errorState?: { details: string } }[];
    }[];
  };
  const ld = dump.configs.find((c) => c['@type'].endsWith('ListenersConfigDump'))!;
  assert.deepEqual(
    ld.dynamicListeners!.filter((l) => l.activeState).map((l) => l.name),
    [good.name],
    'the listener that cannot bind is not in the running config',
  );
  assert.match(ld.dynamicListeners!.find((l) => l.name === bad.name)!.errorState!.details, /EADDRINUSE/);
  assert.ok(ld.dynamicListeners![0]!.activeState!.versionInfo !== '', 'the listener carries the xDS version it came with');
  // Once the port is free, the next LDS update that carries the listener binds it and is ACKed.
  await new Promise<void>((r) => blocker.close(() => r()));
  const ack = new Promise<void>((resolve) =>
    agent.ads!.on('ack', (e: { typeUrl: string }) => {
      if (e.typeUrl === TypeUrl.Listener) resolve();
    }),
  );
  cp.cache.setSnapshot(
    node.id,
    snapshotFromResources('v3', {
      listeners: [good, { ...bad, trafficDirection: 'INBOUND' }],
      clusters: [cluster],
      endpoints: [cla],
      secrets: [],
    }),
  );
  await ack;
  assert.equal((await roundTrip(taken, 'retried')).echoed, 'retried');
  const secretsDump = JSON.stringify(dump.configs.find((c) => c['@type'].endsWith('SecretsConfigDump')));
  assert.ok(!secretsDump.includes('PRIVATE KEY'), 'config_dump never shows a private key');
  const prom = await (await fetch(`${admin}/stats/prometheus`)).text();
  assert.match(
    prom,
    /istio_tcp_connections_opened_total\{reporter="source",source_workload="client",source_workload_namespace="app",source_principal="spiffe:\/\/cluster.local\/ns\/app\/sa\/client"/,
  );
  assert.match(prom, /meshgate_proxy_config_updates_total\{type="listener",result="rejected"\} 1/);
  assert.equal((await fetch(`${admin}/ready`)).status, 200);
  assert.equal((await fetch(`${admin}/healthz`)).status, 200);
  const certs = (await (await fetch(`${admin}/certs`)).json()) as { certificates: { name: string }[] };
  assert.ok(certs.certificates.some((c) => c.name === 'default'));
  assert.ok(certs.certificates.some((c) => c.name === 'ROOTCA'));
  assert.ok(!lines.some((l) => l.includes('PRIVATE KEY') || l.includes('eyJ')), 'logs carry no key or token');
  // POST /drain_listeners: stops accepting, readiness fails.
  assert.equal((await fetch(`${admin}/drain_listeners`, { method: 'POST' })).status, 200);
  await waitFor(async () => (await fetch(`${admin}/ready`)).status === 503, 10_000, 'not ready after drain');
  assert.equal((await roundTrip(lport, 'after drain')).echoed, '');
});

test('bootstrap probeAddress (where 15090 and 15021 listen) must be an IP address', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshgate-agent-probe-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const base = [
    'node: { role: sidecar, ips: ["198.18.1.2"], podName: p, namespace: app, serviceAccount: sa }',
    'discoveryAddress: "127.0.0.1:1"',
    'rootCertFile: r',
    'tokenFile: t',
    'trustDomain: cluster.local',
  ];
  writeFileSync(path.join(dir, 'bad.yaml'), [...base, 'probeAddress: pod.example', ''].join('\n'));
  await assert.rejects(
    loadBootstrap(path.join(dir, 'bad.yaml')),
    (err: Error & { code?: string }) => err.code === 'E_BOOTSTRAP_INVALID' && /probeAddress: must be an IP address/.test(err.message),
  );
  writeFileSync(path.join(dir, 'good.yaml'), [...base, 'probeAddress: 198.18.1.2', ''].join('\n'));
  assert.equal((await loadBootstrap(path.join(dir, 'good.yaml'))).probeAddress, '198.18.1.2');
});
