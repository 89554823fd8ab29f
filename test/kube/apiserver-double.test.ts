import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startApiServerDouble } from '../../src/kube/apiserver-double/server.js';
import { writeKubeconfig } from '../../src/kube/kubeconfig.js';
import { call, collectWatch } from './double-client.js';

const svc = (name: string, port: number) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'default', labels: { app: name } },
  spec: { selector: { app: name }, ports: [{ name: 'tcp', port }] },
});

test('discovery lists the core and Istio resources; a wrong or missing bearer token gets 401', async (t) => {
  const d = await startApiServerDouble({ token: 'secret-token' });
  t.after(() => d.close());
  assert.equal((await call(d, 'GET', '/api', undefined, { token: 'wrong' })).status, 401);
  const api = await call(d, 'GET', '/api');
  assert.deepEqual(api.body.versions, ['v1']);
  const apis = await call(d, 'GET', '/apis');
  const names = (apis.body.groups as { name: string; preferredVersion: { version: string } }[]).map(
    (g) => `${g.name}@${g.preferredVersion.version}`,
  );
  assert.deepEqual(names.sort(), ['networking.istio.io@v1', 'security.istio.io@v1']);
  const core = await call(d, 'GET', '/api/v1');
  const kinds = (core.body.resources as { kind: string; namespaced: boolean }[]).map((r) => r.kind);
  for (const k of ['Pod', 'Service', 'Secret', 'Namespace', 'ServiceAccount']) assert.ok(kinds.includes(k), k);
  for (const v of ['v1', 'v1beta1', 'v1alpha3']) {
    const net = await call(d, 'GET', `/apis/networking.istio.io/${v}`);
    assert.equal(net.status, 200);
    assert.deepEqual((net.body.resources as { kind: string }[]).map((r) => r.kind).sort(), [
      'DestinationRule',
      'Gateway',
      'ServiceEntry',
      'Sidecar',
      'VirtualService',
    ]);
  }
  assert.equal((await call(d, 'GET', '/apis/security.istio.io/v1alpha3')).status, 404);
});

test('list carries the resourceVersion a watch resumes from; the watch replays later changes in resourceVersion order', async (t) => {
  const d = await startApiServerDouble({ token: 't' });
  t.after(() => d.close());
  assert.equal((await call(d, 'POST', '/api/v1/namespaces/default/services', svc('a', 1))).status, 201);
  assert.equal((await call(d, 'POST', '/api/v1/namespaces/default/services', svc('a', 1))).body.reason, 'AlreadyExists');
  assert.equal((await call(d, 'POST', '/api/v1/namespaces/nowhere/services', { ...svc('x', 1), metadata: { name: 'x' } })).status, 404);
  const list = await call(d, 'GET', '/api/v1/services');
  const rv = (list.body.metadata as { resourceVersion: string }).resourceVersion;
  assert.deepEqual(
    (list.body.items as { metadata: { name: string } }[]).map((i) => i.metadata.name),
    ['a'],
  );
  await call(d, 'POST', '/api/v1/namespaces/default/services', svc('b', 2));
  await call(
    d,
    'PATCH',
    '/api/v1/namespaces/default/services/a',
    { spec: { ports: [{ name: 'tcp', port: 9 }] } },
    { contentType: 'application/merge-patch+json' },
  );
  await call(d, 'DELETE', '/api/v1/namespaces/default/services/b');
  const w = await collectWatch(d, `/api/v1/services?watch=1&resourceVersion=${rv}`, (e) => e.length >= 3);
  assert.deepEqual(
    w.events.map((e) => `${e.type} ${e.object.metadata?.name}`),
    ['ADDED b', 'MODIFIED a', 'DELETED b'],
  );
  const rvs = w.events.map((e) => Number(e.object.metadata?.resourceVersion));
  assert.ok(
    rvs.every((x, i) => x > Number(rv) && (i === 0 || x > rvs[i - 1]!)),
    `increasing after ${rv}: ${rvs.join(',')}`,
  );
  // A stale update is refused (optimistic concurrency), a fresh one goes in.
  const a = (await call(d, 'GET', '/api/v1/namespaces/default/services/a')).body as { metadata: Record<string, unknown> };
  assert.equal(
    (await call(d, 'PUT', '/api/v1/namespaces/default/services/a', { ...a, metadata: { ...a.metadata, resourceVersion: rv } })).status,
    409,
  );
  assert.equal(
    (await call(d, 'PUT', '/api/v1/namespaces/default/services/a', { ...a, metadata: { ...a.metadata, labels: { app: 'a', v: '2' } } }))
      .status,
    200,
  );
  // A watch without resourceVersion starts with the current state as ADDED events.
  const fresh = await collectWatch(d, '/api/v1/namespaces/default/services?watch=true', (e) => e.length >= 1);
  assert.deepEqual(
    fresh.events.map((e) => `${e.type} ${e.object.metadata?.name}`),
    ['ADDED a'],
  );
});

test('a watch from a compacted resourceVersion gets an ERROR event with a 410 Expired Status and ends', async (t) => {
  const d = await startApiServerDouble({ token: 't' });
  t.after(() => d.close());
  const rv = ((await call(d, 'GET', '/api/v1/services')).body.metadata as { resourceVersion: string }).resourceVersion;
  await call(d, 'POST', '/api/v1/namespaces/default/services', svc('a', 1));
  d.store.compact();
  const w = await collectWatch(d, `/api/v1/services?watch=1&resourceVersion=${rv}`, () => false, 3000);
  assert.equal(w.ended, true, 'the server ends the stream');
  assert.equal(w.events.length, 1);
  assert.equal(w.events[0]!.type, 'ERROR');
  assert.equal(w.events[0]!.object.code, 410);
  assert.equal(w.events[0]!.object.reason, 'Expired');
  // From the current resourceVersion the watch is accepted.
  const now = ((await call(d, 'GET', '/api/v1/services')).body.metadata as { resourceVersion: string }).resourceVersion;
  const ok = await collectWatch(d, `/api/v1/services?watch=1&resourceVersion=${now}`, () => false, 300);
  assert.deepEqual(ok.events, []);
});

test('a watch that allows bookmarks gets BOOKMARK events carrying the current resourceVersion; one that does not gets none', async (t) => {
  const d = await startApiServerDouble({ token: 't', bookmarkIntervalMs: 100 });
  t.after(() => d.close());
  const rv = ((await call(d, 'GET', '/api/v1/pods')).body.metadata as { resourceVersion: string }).resourceVersion;
  await call(d, 'POST', '/api/v1/namespaces/default/services', svc('other-kind', 1)); // moves the resourceVersion, not a pod
  const w = await collectWatch(d, `/api/v1/pods?watch=1&resourceVersion=${rv}&allowWatchBookmarks=true`, (e) =>
    e.some((x) => x.type === 'BOOKMARK'),
  );
  const bm = w.events.find((e) => e.type === 'BOOKMARK');
  assert.ok(bm, 'a bookmark arrived');
  assert.equal(bm.object.metadata?.resourceVersion, String(d.store.currentRv()));
  assert.ok(Number(bm.object.metadata?.resourceVersion) > Number(rv));
  const plain = await collectWatch(d, `/api/v1/pods?watch=1&resourceVersion=${rv}`, () => false, 400);
  assert.deepEqual(plain.events, []);
});

// MESHGATE_KUBECTL picks another kubectl (Debian 12's kubernetes-client is 1.20, a cloud SDK's is newer).
const KUBECTL = process.env.MESHGATE_KUBECTL ?? 'kubectl';
const kubectlMissing =
  !existsSync(KUBECTL) && !existsSync('/usr/bin/kubectl') && spawnSync(KUBECTL, ['version', '--client'], { encoding: 'utf8' }).status !== 0;

test(
  'kubectl apply (create, then client-side strategic merge and merge patch), get, patch and delete work against the double',
  { skip: kubectlMissing ? 'kubectl not installed (Debian package kubernetes-client)' : false },
  async (t) => {
    const d = await startApiServerDouble({ token: 'kubectl-token' });
    const dir = await mkdtemp(path.join(tmpdir(), 'meshgate-kubectl-'));
    t.after(async () => {
      await d.close();
      await rm(dir, { recursive: true, force: true });
    });
    const kubeconfig = path.join(dir, 'kubeconfig');
    writeKubeconfig(kubeconfig, { server: d.url, caPem: d.caPem, token: d.token });
    // Asynchronous: the double answers from this very process.
    const kubectl = (...args: string[]) =>
      new Promise<{ status: number; out: string }>((resolve) => {
        execFile(
          KUBECTL,
          ['--kubeconfig', kubeconfig, ...args],
          { encoding: 'utf8', timeout: 60_000, env: { ...process.env, HOME: dir } },
          (err, stdout, stderr) => {
            resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` });
          },
        );
      });
    const gw = (port: number) =>
      `apiVersion: networking.istio.io/v1beta1\nkind: Gateway\nmetadata:\n  name: gw\n  namespace: istio-system\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: ${port}, name: tls, protocol: TLS}\n    hosts: ["*"]\n    tls: {mode: PASSTHROUGH}\n`;
    const service = (port: number) =>
      `apiVersion: v1\nkind: Service\nmetadata:\n  name: mysql\n  namespace: default\nspec:\n  selector: {app: mysql}\n  ports:\n  - {name: tcp-mysql, port: ${port}}\n  - {name: tcp-admin, port: 33062}\n`;
    await writeFile(path.join(dir, 'a.yaml'), `${gw(443)}---\n${service(3306)}`);
    let r = await kubectl('apply', '--validate=false', '-f', path.join(dir, 'a.yaml'));
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /gateway.networking.istio.io\/gw created/);
    assert.match(r.out, /service\/mysql created/);
    await writeFile(path.join(dir, 'a.yaml'), `${gw(15443)}---\n${service(3307)}`);
    r = await kubectl('apply', '--validate=false', '-f', path.join(dir, 'a.yaml'));
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /gateway.networking.istio.io\/gw configured/);
    const g = (await call(d, 'GET', '/apis/networking.istio.io/v1/namespaces/istio-system/gateways/gw')).body as {
      apiVersion: string;
      spec: { servers: { port: { number: number } }[] };
    };
    assert.equal(g.apiVersion, 'networking.istio.io/v1', 'served at every version of the group');
    assert.equal(g.spec.servers[0]!.port.number, 15443);
    const s = (await call(d, 'GET', '/api/v1/namespaces/default/services/mysql')).body as {
      spec: { ports: { name: string; port: number }[] };
    };
    assert.deepEqual(
      s.spec.ports.map((p) => `${p.name}:${p.port}`),
      ['tcp-mysql:3307', 'tcp-admin:33062'],
      'strategic merge kept both ports, merged by key',
    );
    r = await kubectl('get', 'gateways', '-A');
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /istio-system\s+gw\s/);
    r = await kubectl('get', 'service', 'mysql', '-n', 'default', '-o', 'jsonpath={.spec.ports[0].port}');
    assert.equal(r.out.trim(), '3307');
    r = await kubectl(
      'patch',
      'service',
      'mysql',
      '-n',
      'default',
      '--type',
      'json',
      '-p',
      '[{"op":"add","path":"/spec/ports/0","value":{"name":"tls-mysql","port":13306}}]',
    );
    assert.equal(r.status, 0, r.out);
    r = await kubectl('get', 'service', 'mysql', '-n', 'default', '-o', 'jsonpath={.spec.ports[*].name}');
    assert.equal(r.out.trim(), 'tls-mysql tcp-mysql tcp-admin');
    r = await kubectl('delete', '-f', path.join(dir, 'a.yaml'));
    assert.equal(r.status, 0, r.out);
    assert.equal((await call(d, 'GET', '/api/v1/namespaces/default/services/mysql')).status, 404);
  },
);
