// Istio's standard TCP metric labels end to end: the control plane's model writes who runs where
// (endpoint `istio.workload` metadata, the inbound listeners' peer table), a client sidecar and a server
// sidecar built from that output carry one connection over mutual TLS, and each side's
// /stats/prometheus names both workloads — source from the client's own node and the server's peer
// table entry for the verified client certificate, destination from the endpoint's metadata and the
// server's own node — with the same values on both sides.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { generateProxyResources } from '../../src/model/generate.js';
import { startAdmin } from '../../src/proxy/admin.js';
import type { Proxy } from '../../src/proxy/proxy.js';
import type { ProxyNode } from '../../src/envoy/node.js';
import { caSecret, certSecret, echoServer, issue, makeCa, newProxy, spiffe, type Pair } from './helpers.js';
import { pod, service, sidecarNode, snapshotOf } from '../model/fixtures.js';

const CLIENT_IP = '127.0.151.21';
const SERVER_IP = '127.0.151.22';

let ca: Pair;
before(async () => {
  ca = await makeCa('mesh-ca');
});

async function sidecar(
  t: Parameters<typeof newProxy>[0],
  snapshot: ReturnType<typeof snapshotOf>,
  node: ProxyNode,
  id: Pair,
): Promise<{ proxy: Proxy; prometheus: () => Promise<string> }> {
  const { proxy } = newProxy(t, { node });
  proxy.setLocalSecret('default', certSecret('default', id));
  proxy.setLocalSecret('ROOTCA', caSecret('ROOTCA', ca));
  const r = generateProxyResources(snapshot, node);
  proxy.applyClusters(r.clusters);
  proxy.applyEndpoints(r.endpoints);
  await proxy.applyListeners(r.listeners);
  const admin = await startAdmin(proxy, { port: 0 });
  t.after(() => admin.close());
  return { proxy, prometheus: async () => (await fetch(`http://127.0.0.1:${admin.port}/stats/prometheus`)).text() };
}

/** The labels of the one istio_tcp_connections_opened_total series on a page, as a map. */
function openedLabels(page: string): Record<string, string> {
  const lines = page.split('\n').filter((l) => l.startsWith('istio_tcp_connections_opened_total{'));
  assert.equal(lines.length, 1, `one series expected:\n${lines.join('\n')}`);
  const labels: Record<string, string> = {};
  for (const m of lines[0]!.matchAll(/(\w+)="([^"]*)"/g)) labels[m[1]!] = m[2]!;
  return labels;
}

test('after one connection through a client and a server sidecar, both report every Istio TCP label with the same workloads', async (t) => {
  const echo = await echoServer(t);
  const port = echo.port; // the application listens on 127.0.0.1:port; the sidecars bind their pod addresses
  const snapshot = snapshotOf([
    service('mysql', 'db', { app: 'mysql' }, [{ name: 'tcp', port, targetPort: port }]),
    pod(
      'mysql-7d9c8b6f5-x2x9k',
      'db',
      SERVER_IP,
      { app: 'mysql', version: 'v1' },
      { sidecar: true, sa: 'mysql', ports: [{ containerPort: port }] },
    ),
    pod(
      'client-5f6d7c8b9-abcde',
      'app',
      CLIENT_IP,
      { app: 'client', 'service.istio.io/canonical-name': 'mysql-client', 'app.kubernetes.io/version': '2.1' },
      { sidecar: true, sa: 'client' },
    ),
  ]);
  const serverNode = sidecarNode({
    podName: 'mysql-7d9c8b6f5-x2x9k',
    namespace: 'db',
    labels: { app: 'mysql', version: 'v1' },
    ips: [SERVER_IP],
    serviceAccount: 'mysql',
    clusterId: 'cluster-b',
    interceptionMode: 'NONE',
    workloadPorts: [port],
  });
  const clientNode = sidecarNode({
    podName: 'client-5f6d7c8b9-abcde',
    namespace: 'app',
    labels: { app: 'client', 'service.istio.io/canonical-name': 'mysql-client', 'app.kubernetes.io/version': '2.1' },
    ips: [CLIENT_IP],
    serviceAccount: 'client',
    clusterId: 'cluster-b',
    interceptionMode: 'NONE',
  });
  const server = await sidecar(t, snapshot, serverNode, await issue(ca, { uris: [spiffe('db', 'mysql')] }));
  const client = await sidecar(t, snapshot, clientNode, await issue(ca, { uris: [spiffe('app', 'client')] }));
  assert.ok(client.proxy.listenerAddress(`${CLIENT_IP}_${port}`), 'the client sidecar binds the service port on its pod address');

  const echoed = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect({ host: CLIENT_IP, port }, () => s.end('SELECT 1'));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks).toString()));
    s.on('error', reject);
  });
  assert.equal(echoed, 'SELECT 1');

  const expected = {
    source_workload: 'client',
    source_workload_namespace: 'app',
    source_principal: spiffe('app', 'client'),
    source_app: 'client',
    source_version: 'unknown',
    source_canonical_service: 'mysql-client',
    source_canonical_revision: '2.1',
    source_cluster: 'cluster-b',
    destination_workload: 'mysql',
    destination_workload_namespace: 'db',
    destination_principal: spiffe('db', 'mysql'),
    destination_app: 'mysql',
    destination_version: 'v1',
    destination_canonical_service: 'mysql',
    destination_canonical_revision: 'v1',
    destination_cluster: 'cluster-b',
    destination_service: 'mysql.db.svc.cluster.local',
    destination_service_name: 'mysql',
    destination_service_namespace: 'db',
    request_protocol: 'tcp',
  };
  let clientLabels: Record<string, string> = {};
  let serverLabels: Record<string, string> = {};
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    clientLabels = openedLabels(await client.prometheus());
    const page = await server.prometheus();
    if (page.includes('istio_tcp_connections_opened_total{')) {
      serverLabels = openedLabels(page);
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(
    { ...clientLabels, reporter: undefined, connection_security_policy: undefined, response_flags: undefined },
    { ...expected, reporter: undefined, connection_security_policy: undefined, response_flags: undefined },
  );
  assert.equal(clientLabels.reporter, 'source');
  assert.deepEqual(
    { ...serverLabels, reporter: undefined, connection_security_policy: undefined, response_flags: undefined },
    { ...expected, reporter: undefined, connection_security_policy: undefined, response_flags: undefined },
  );
  assert.equal(serverLabels.reporter, 'destination');
  assert.equal(serverLabels.connection_security_policy, 'mutual_tls');
});

test('a peer the control plane did not describe is unknown, never another workload', async (t) => {
  const echo = await echoServer(t);
  const port = echo.port;
  // The server's snapshot knows no client pod; the client's endpoint for the server has no pod either.
  const serverSnap = snapshotOf([
    service('mysql', 'db', { app: 'mysql' }, [{ name: 'tcp', port, targetPort: port }]),
    pod('mysql-7d9c8b6f5-x2x9k', 'db', SERVER_IP, { app: 'mysql' }, { sidecar: true, sa: 'mysql', ports: [{ containerPort: port }] }),
    pod('other-5f6d7c8b9-zzzzz', 'app', '127.0.151.99', { app: 'other' }, { sidecar: true, sa: 'other' }),
  ]);
  const serverNode = sidecarNode({
    podName: 'mysql-7d9c8b6f5-x2x9k',
    namespace: 'db',
    labels: { app: 'mysql' },
    ips: [SERVER_IP],
    serviceAccount: 'mysql',
    clusterId: 'cluster-b',
    interceptionMode: 'NONE',
    workloadPorts: [port],
  });
  const server = await sidecar(t, serverSnap, serverNode, await issue(ca, { uris: [spiffe('db', 'mysql')] }));
  // A client holding a certificate for app/client, which the server's table does not list.
  const tls = await import('node:tls');
  const id = await issue(ca, { uris: [spiffe('app', 'client')] });
  await new Promise<void>((resolve, reject) => {
    const s = tls.connect(
      {
        host: SERVER_IP,
        port,
        cert: id.certPem,
        key: id.keyPem,
        ca: ca.certPem,
        ALPNProtocols: ['istio-peer-exchange', 'istio'],
        servername: 'outbound_.x',
        rejectUnauthorized: false,
      },
      () => s.end('x'),
    );
    s.on('data', () => undefined);
    s.on('close', () => resolve());
    s.on('error', reject);
  });
  let labels: Record<string, string> = {};
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const page = await server.prometheus();
    if (page.includes('istio_tcp_connections_opened_total{')) {
      labels = openedLabels(page);
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(labels.source_principal, spiffe('app', 'client'));
  assert.equal(labels.source_workload_namespace, 'app', 'the namespace still comes from the verified SPIFFE id');
  for (const k of [
    'source_workload',
    'source_app',
    'source_version',
    'source_canonical_service',
    'source_canonical_revision',
    'source_cluster',
  ])
    assert.equal(labels[k], 'unknown', k);
  assert.equal(labels.destination_workload, 'mysql');
  assert.equal(labels.destination_cluster, 'cluster-b');
});
