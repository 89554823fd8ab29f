import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { defaultMeshConfig } from '../../src/config/default-install.js';
import { formatDiagnostic, type Diagnostic } from '../../src/config/diagnostics.js';
import { ConfigStore } from '../../src/config/store.js';
import { startApiServerDouble, type ApiServerDouble } from '../../src/kube/apiserver-double/server.js';
import { RESOURCE_TYPES } from '../../src/kube/apiserver-double/resources.js';
import { writeKubeconfig } from '../../src/kube/kubeconfig.js';
import { KubernetesSource } from '../../src/kube/kubernetes-source.js';
import { call } from './double-client.js';

async function waitFor(what: string, cond: () => boolean, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out waiting for ${what}`);
}

const type = (kind: string) => RESOURCE_TYPES.find((r) => r.kind === kind)!;
const gateway = (port: number | string, credentialName = 'mysql-credential') => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'Gateway',
  metadata: { name: 'gw', namespace: 'istio-system' },
  spec: {
    selector: { istio: 'ingressgateway' },
    servers: [
      { port: { number: port, name: 'tls', protocol: 'TLS' }, hosts: ['mysql.fqdn.example'], tls: { mode: 'MUTUAL', credentialName } },
    ],
  },
});
const secret = (name: string, value: string) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: 'istio-system' },
  type: 'Opaque',
  data: { 'tls.crt': Buffer.from(value).toString('base64') },
});
const service = (name: string, port: number) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'default' },
  spec: { selector: { app: name }, ports: [{ name: 'tcp', port }] },
});

async function setup(t: {
  after: (fn: () => Promise<void>) => void;
}): Promise<{ d: ApiServerDouble; store: ConfigStore; src: KubernetesSource; diags: Diagnostic[]; lists: string[] }> {
  const d = await startApiServerDouble({ token: 'source-token', bookmarkIntervalMs: 200 });
  const dir = await mkdtemp(path.join(tmpdir(), 'meshgate-kube-src-'));
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeKubeconfig(kubeconfig, { server: d.url, caPem: d.caPem, token: d.token });
  const store = new ConfigStore(defaultMeshConfig());
  const diags: Diagnostic[] = [];
  const lists: string[] = [];
  const src = new KubernetesSource({
    kubeconfig,
    store,
    onDiagnostics: (x) => diags.push(...x),
    onList: (p) => lists.push(p),
    reportEvents: true,
  });
  t.after(async () => {
    await src.close();
    await d.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { d, store, src, diags, lists };
}

test('the source lists every kind into the store and reads only the Secrets a Gateway names (and their -cacert)', async (t) => {
  const { d, store, src } = await setup(t);
  d.store.create(type('Gateway'), 'istio-system', gateway(443));
  d.store.create(type('Secret'), 'istio-system', secret('mysql-credential', 'v1'));
  d.store.create(type('Secret'), 'istio-system', secret('unrelated-token', 'do-not-read'));
  d.store.create(type('Service'), 'default', service('mysql', 3306));
  await src.start();
  const snap = store.snapshot();
  assert.deepEqual(
    snap.gateways.map((g) => g.metadata.name),
    ['gw'],
  );
  assert.deepEqual(
    snap.services.map((s) => s.metadata.name),
    ['mysql'],
  );
  assert.deepEqual(snap.namespaces.map((n) => n.metadata.name).sort(), ['default', 'istio-system', 'kube-public', 'kube-system']);
  assert.deepEqual(src.watchedSecretNames(), ['mysql-credential', 'mysql-credential-cacert']);
  assert.deepEqual(
    store.snapshot().secrets.map((s) => s.metadata.name),
    ['mysql-credential'],
  );
  // A Gateway naming another credential: that Secret is read, the old one leaves the config.
  d.store.create(type('Secret'), 'istio-system', secret('other-credential', 'o'));
  d.store.update(type('Gateway'), 'istio-system', 'gw', gateway(443, 'other-credential'));
  await waitFor(
    'the Secret selection follows the Gateway',
    () =>
      store
        .snapshot()
        .secrets.map((s) => s.metadata.name)
        .join() === 'other-credential',
  );
  assert.deepEqual(src.watchedSecretNames(), ['other-credential', 'other-credential-cacert']);
  // A Secret rotated through the API reaches the snapshot.
  d.store.update(type('Secret'), 'istio-system', 'other-credential', secret('other-credential', 'rotated'));
  await waitFor('the rotated Secret', () => store.snapshot().secrets[0]?.data['tls.crt']?.toString() === 'rotated');
});

test('an invalid object is refused with a diagnostic naming Kind namespace/name and the field; its last good version stays; a Warning Event is posted', async (t) => {
  const { d, store, src, diags } = await setup(t);
  d.store.create(type('Gateway'), 'istio-system', gateway(443));
  await src.start();
  assert.equal(store.snapshot().gateways[0]!.spec.servers[0]!.port.number, 443);
  d.store.update(type('Gateway'), 'istio-system', 'gw', gateway('not-a-port'));
  await waitFor('the refusal', () => diags.some((x) => x.level === 'Error'));
  const line = formatDiagnostic(diags.find((x) => x.level === 'Error')!);
  assert.match(line, /\(Gateway istio-system\/gw\) spec\.servers\[0\]\.port\.number:/);
  assert.match(line, /^kubernetes:Gateway\/istio-system\/gw@\d+:/);
  assert.equal(store.snapshot().gateways[0]!.spec.servers[0]!.port.number, 443, 'the last good version is still served');
  await waitFor('a Warning Event', () => d.store.list(type('Event'), 'istio-system').length > 0);
  const ev = d.store.list(type('Event'), 'istio-system')[0]! as {
    reason: string;
    type: string;
    involvedObject: { kind: string; name: string };
    message: string;
  };
  assert.equal(ev.reason, 'ConfigRejected');
  assert.equal(ev.type, 'Warning');
  assert.deepEqual([ev.involvedObject.kind, ev.involvedObject.name], ['Gateway', 'gw']);
  assert.match(ev.message, /spec\.servers\[0\]\.port\.number/);
  // Fixed through the API: the new version is taken.
  await call(d, 'PUT', '/apis/networking.istio.io/v1/namespaces/istio-system/gateways/gw', gateway(8443));
  await waitFor('the fixed version', () => store.snapshot().gateways[0]!.spec.servers[0]!.port.number === 8443);
});

test('a dropped watch resumes from its resourceVersion without a relist; a drop followed by 410 Gone relists and loses no update', async (t) => {
  const { d, store, src, lists } = await setup(t);
  d.store.create(type('Service'), 'default', service('a', 1));
  d.store.create(type('Service'), 'default', service('gone', 2));
  await src.start();
  const servicesPath = '/api/v1/services';
  const listsOf = () => lists.filter((p) => p === servicesPath).length;
  assert.equal(listsOf(), 1);
  await waitFor('watches open', () => d.watchCount() >= 11);
  const servicesWatch = d.watchRequests().find((u) => u.startsWith(`${servicesPath}?`))!;
  assert.match(servicesWatch, /allowWatchBookmarks=true/, `the informer asks for bookmarks: ${d.watchRequests().join(' ')}`);
  assert.match(servicesWatch, /resourceVersion=\d+/, "and watches from the list's resourceVersion");
  // Drop every watch; the changes made meanwhile are replayed from the history on re-watch.
  d.dropWatches();
  d.store.update(type('Service'), 'default', 'a', service('a', 10));
  await waitFor(
    'the change after a plain drop',
    () => store.snapshot().services.find((s) => s.metadata.name === 'a')?.spec.ports?.[0]?.port === 10,
  );
  assert.equal(listsOf(), 1, 'no relist after a plain drop');
  // Drop again, change, delete and compact before the informer is back: its resourceVersion is gone.
  await waitFor('watches open again', () => d.watchCount() >= 11);
  d.dropWatches();
  d.store.update(type('Service'), 'default', 'a', service('a', 20));
  d.store.delete(type('Service'), 'default', 'gone');
  d.store.create(type('Service'), 'default', service('new', 3));
  d.store.compact();
  await waitFor('the relist after 410', () => listsOf() === 2);
  await waitFor('every change made while the watch was down', () => {
    const s = store
      .snapshot()
      .services.map((x) => `${x.metadata.name}:${x.spec.ports?.[0]?.port}`)
      .sort()
      .join();
    return s === 'a:20,new:3';
  });
});

test('an API server that goes away: list/watch failures are reported and retried with growing backoff; the store keeps the last config', async (t) => {
  const { d, store, src } = await setup(t);
  const waits: number[] = [];
  (src as unknown as { opts: { onWatchError: (p: string, e: unknown, w: number) => void } }).opts.onWatchError = (_p, _e, w) =>
    waits.push(w);
  d.store.create(type('Service'), 'default', service('kept', 1));
  await src.start();
  await d.close();
  await waitFor('three failed attempts on one collection', () => waits.filter((w) => w >= 800).length > 0, 15_000);
  assert.ok(waits.includes(200) && waits.includes(400), `backoff grows from 200 ms: ${waits.join(',')}`);
  assert.deepEqual(
    store.snapshot().services.map((s) => s.metadata.name),
    ['kept'],
  );
});
