import assert from 'node:assert/strict';
import { mkdtemp, rm, symlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { defaultInstallObjects, defaultMeshConfig } from '../../src/config/default-install.js';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { parseDuration } from '../../src/config/load.js';
import { loadConfigPaths, loadConfigText, MAX_CONFIG_FILE_BYTES } from '../../src/config/load.js';
import { buildSnapshot } from '../../src/config/snapshot.js';
import type { Secret, Service, ServiceEntry } from '../../src/config/types.js';
import { seedDir } from './seed-dir.js';
import { repoRoot } from '../repo-root.js';

const mesh = defaultMeshConfig();
const install = () => defaultInstallObjects(mesh).map((object) => ({ object, source: { file: '<install>', line: 1, column: 1 } }));

test('loads the seed client cluster unchanged, with no diagnostics', async () => {
  const r = await loadConfigPaths([seedDir('client-cluster')]);
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), []);
  assert.deepEqual(r.objects.map((o) => `${o.object.kind}/${o.object.metadata.namespace}/${o.object.metadata.name}`).sort(), [
    'DestinationRule/default/egressgateway-for-mysql',
    'DestinationRule/default/originate-mtls-for-mysql',
    'ServiceEntry/default/mysql-external',
    'VirtualService/default/direct-mysql-through-egress-gateway',
  ]);
  const se = r.objects.find((o) => o.object.kind === 'ServiceEntry')?.object as ServiceEntry;
  assert.deepEqual(se.spec.ports, [
    { number: 3306, name: 'tcp', protocol: 'TCP' },
    { number: 13306, name: 'tls', protocol: 'TLS' },
  ]);
  assert.deepEqual(se.spec.exportTo, ['*'], 'exportTo defaults to everywhere, as Istio');
  assert.equal(se.spec.resolution, 'DNS');
});

test('the seed server patch has no target without a kustomization, and one with it', async () => {
  const seed = await loadConfigPaths([seedDir('server-cluster')]);
  assert.equal(seed.patches.length, 1);
  assert.equal(seed.patches[0]?.target, undefined);
  const built = buildSnapshot([...seed.objects, ...install()], seed.patches, mesh, 1);
  assert.deepEqual(built.diagnostics.map(formatDiagnostic), [
    `${path.join(seedDir('server-cluster'), 'ingressgateway-service-patch.json')}:1:1: Warning [MG0006] JSON patch has no target (no kustomization.yaml beside it names one); its 1 operation(s) were checked but cannot be applied`,
  ]);
  const example = await loadConfigPaths([path.join(repoRoot(), 'examples/mysql-cross-cluster/cluster-b')]);
  assert.deepEqual(example.diagnostics, []);
  assert.deepEqual(example.patches[0]?.target, { kind: 'Service', namespace: 'istio-system', name: 'istio-ingressgateway' });
  const b = buildSnapshot([...example.objects, ...install()], example.patches, mesh, 1);
  assert.deepEqual(b.diagnostics, []);
  const ingress = b.snapshot.services.find((s) => s.metadata.name === 'istio-ingressgateway') as Service;
  assert.deepEqual(
    ingress.spec.ports?.map((p) => `${p.name}:${p.port}->${String(p.targetPort)}`),
    ['tls-mysql:13306->13306', 'status-port:15021->15021', 'http2:80->8080', 'https:443->8443'],
  );
});

test('object sources and field positions point at the YAML', async () => {
  const r = loadConfigText(
    '# a comment\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports:\n  - name: tcp-db\n    port: 5432\n',
    'f.yaml',
  );
  const src = r.objects[0]?.source;
  assert.equal(src?.line, 3);
  assert.equal(src?.column, 1);
  assert.deepEqual(src?.positions?.get('spec.ports[0].port'), { line: 10, column: 5 });
  assert.deepEqual(src?.positions?.get('spec.ports[0]'), { line: 9, column: 5 });
});

test('Secrets merge base64 data and stringData into Buffers, stringData winning', () => {
  const r = loadConfigText(
    'apiVersion: v1\nkind: Secret\nmetadata:\n  name: c\n  namespace: istio-system\ndata:\n  tls.crt: aGVsbG8=\n  ca.crt: b2xk\nstringData:\n  ca.crt: new\n',
    's.yaml',
  );
  assert.deepEqual(r.diagnostics, []);
  const s = r.objects[0]?.object as Secret;
  assert.equal(s.data['tls.crt']?.toString(), 'hello');
  assert.equal(s.data['ca.crt']?.toString(), 'new');
});

test('short hosts resolve against the object namespace in the snapshot', () => {
  const r = loadConfigText(
    'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d, namespace: shop}\nspec: {host: reviews}\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v, namespace: shop}\nspec:\n  hosts: [reviews]\n  tcp:\n  - route:\n    - destination: {host: ratings}\n',
    'h.yaml',
  );
  const snap = buildSnapshot(r.objects, [], mesh, 1).snapshot;
  assert.equal(snap.destinationRules[0]?.spec.host, 'reviews.shop.svc.cluster.local');
  assert.deepEqual(snap.virtualServices[0]?.spec.hosts, ['reviews.shop.svc.cluster.local']);
  assert.equal(snap.virtualServices[0]?.spec.tcp?.[0]?.route?.[0]?.destination.host, 'ratings.shop.svc.cluster.local');
});

test('Service ports get their Kubernetes defaults', () => {
  const r = loadConfigText('apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports:\n  - {name: tls-x, port: 443}\n', 's.yaml');
  assert.deepEqual((r.objects[0]?.object as Service).spec.ports, [{ name: 'tls-x', port: 443, protocol: 'TCP', targetPort: 443 }]);
});

test('ServiceEntry port protocol comes from the port name when unset', () => {
  const r = loadConfigText(
    'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: s}\nspec:\n  hosts: [a.example]\n  ports:\n  - {number: 443, name: tls-a}\n  - {number: 3306, name: mysql}\n  - {number: 1, name: custom}\n',
    's.yaml',
  );
  assert.deepEqual((r.objects[0]?.object as ServiceEntry).spec.ports, [
    { number: 443, name: 'tls-a', protocol: 'TLS' },
    { number: 3306, name: 'mysql', protocol: 'MYSQL' },
    { number: 1, name: 'custom' },
  ]);
});

test('a directory with one bad file still loads the good ones and names the rejected object', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'meshgate-load-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(path.join(dir, 'sub'));
  await writeFile(path.join(dir, 'good.yaml'), 'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a}\n');
  await writeFile(
    path.join(dir, 'sub', 'bad.yml'),
    'apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec:\n  ports:\n  - port: http\n',
  );
  await writeFile(path.join(dir, 'sub', 'dup.json'), '{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "a"}}');
  await writeFile(path.join(dir, 'notes.txt'), 'not config');
  const r = await loadConfigPaths([dir]);
  assert.deepEqual(
    r.objects.map((o) => o.object.metadata.name),
    ['a'],
  );
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
    `${path.join(dir, 'sub', 'bad.yml')}:6:11: Error [IST0106] (Service default/b) spec.ports[0].port: expected integer, found string "http"`,
    `${path.join(dir, 'sub', 'dup.json')}:1:1: Error [MG0003] (ServiceAccount default/a) duplicate object: ServiceAccount/default/a is already defined at ${path.join(dir, 'good.yaml')}:1:1; this one is ignored`,
  ]);
});

test('a huge file is refused before it is read, a large valid one loads', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'meshgate-huge-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const huge = path.join(dir, 'huge.yaml');
  await writeFile(huge, Buffer.alloc(MAX_CONFIG_FILE_BYTES + 1, 0x61));
  const r = await loadConfigPaths([huge]);
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
    `${huge}:1:1: Error [MG0002] file is ${MAX_CONFIG_FILE_BYTES + 1} bytes; the limit for a config file is ${MAX_CONFIG_FILE_BYTES} bytes`,
  ]);
  const many = Array.from({ length: 2000 }, (_, i) => `apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa-${i}\n`).join('---\n');
  const big = loadConfigText(many, 'many.yaml');
  assert.equal(big.objects.length, 2000);
  assert.deepEqual(big.diagnostics, []);
  assert.equal(big.objects[1999]?.source.line, 1999 * 5 + 1);
  const text = loadConfigText('a'.repeat(MAX_CONFIG_FILE_BYTES + 1), 'big.yaml');
  assert.deepEqual(text.diagnostics.map(formatDiagnostic), [
    `big.yaml:1:1: Error [MG0002] file is ${MAX_CONFIG_FILE_BYTES + 1} characters long; the limit for a config file is ${MAX_CONFIG_FILE_BYTES} bytes`,
  ]);
});

test('a missing path is an error naming it', async () => {
  const r = await loadConfigPaths(['/nonexistent/meshgate/config']);
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), ['/nonexistent/meshgate/config: Error [MG0002] cannot read: ENOENT']);
});

test('duplicates across sources in one snapshot keep the first', () => {
  const a = loadConfigText('apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x}\n', 'a.yaml');
  const b = loadConfigText('apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x, labels: {v: "2"}}\n', 'b.yaml');
  const built = buildSnapshot([...a.objects, ...b.objects], [], mesh, 3);
  assert.equal(built.snapshot.version, 3);
  assert.equal(built.snapshot.serviceAccounts.length, 1);
  assert.equal(built.snapshot.serviceAccounts[0]?.metadata.labels, undefined);
  assert.deepEqual(built.diagnostics.map(formatDiagnostic), [
    'b.yaml:1:1: Error [MG0003] (ServiceAccount default/x) duplicate object: ServiceAccount/default/x is already defined at a.yaml:1:1; this one is ignored',
  ]);
});

test('patch failures name the op index and path and leave the target unpatched', () => {
  const patchText = '[\n  {"op": "test", "path": "/spec/type", "value": "ClusterIP"},\n  {"op": "remove", "path": "/spec/ports/9"}\n]\n';
  const p = loadConfigText(patchText, 'p.json');
  const patch = { ...p.patches[0]!, target: { kind: 'Service', namespace: 'istio-system', name: 'istio-egressgateway' } };
  const built = buildSnapshot(install(), [patch], mesh, 1);
  assert.deepEqual(built.diagnostics.map(formatDiagnostic), [
    'p.json:3:3: Error [MG0005] (Service istio-system/istio-egressgateway) [1]: op 1 (remove /spec/ports/9) failed on Service/istio-system/istio-egressgateway: index 9 is out of bounds (the array has 2 elements); the object is left unpatched',
  ]);
  assert.equal(built.snapshot.services.find((s) => s.metadata.name === 'istio-egressgateway')?.spec.ports?.length, 2);
  const failingTest = { ...patch, ops: [{ op: 'test' as const, path: '/spec/type', value: 'LoadBalancer' }] };
  assert.match(
    formatDiagnostic(buildSnapshot(install(), [failingTest], mesh, 1).diagnostics[0]!),
    /op 0 \(test \/spec\/type\) failed .*: test failed: the value at "\/spec\/type" is "ClusterIP", not "LoadBalancer"/,
  );
  const badValue = { ...patch, ops: [{ op: 'add' as const, path: '/spec/ports/-', value: { name: 'x', port: 'abc' } }] };
  assert.deepEqual(buildSnapshot(install(), [badValue], mesh, 1).diagnostics.map(formatDiagnostic), [
    'p.json:1:1: Error [MG0005] (Service istio-system/istio-egressgateway) the patched Service/istio-system/istio-egressgateway is invalid, so the patch is not applied: spec.ports[2].port: expected integer, found string "abc"',
  ]);
  const missing = { ...patch, target: { kind: 'Service', namespace: 'istio-system', name: 'nope' } };
  assert.deepEqual(buildSnapshot(install(), [missing], mesh, 1).diagnostics.map(formatDiagnostic), [
    'p.json:1:1: Error [MG0007] (Service istio-system/nope) the patch target Service/istio-system/nope does not exist',
  ]);
});

test('parseDuration reads protobuf and Go-style durations', () => {
  assert.equal(parseDuration('10s'), 10_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('0'), 0);
  for (const bad of ['', '10', 's', '-1s', '10 s', '1d', 'abc'])
    assert.throws(() => parseDuration(bad), { code: 'E_CONFIG_DURATION' }, bad);
});

test('a folder mounted from a ConfigMap (names linked into a hidden ..data folder) loads each linked file once; a dangling link is skipped', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'meshgate-cm-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(path.join(dir, '..2026_12_05'));
  await writeFile(path.join(dir, '..2026_12_05', 'sa.yaml'), 'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: linked}\n');
  await symlink('..2026_12_05', path.join(dir, '..data'));
  await symlink(path.join('..data', 'sa.yaml'), path.join(dir, 'sa.yaml'));
  await symlink(path.join('..data', 'gone.yaml'), path.join(dir, 'gone.yaml'));
  const r = await loadConfigPaths([dir]);
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), []);
  assert.deepEqual(
    r.objects.map((o) => `${o.object.kind}/${o.object.metadata.name}`),
    ['ServiceAccount/linked'],
  );
});
