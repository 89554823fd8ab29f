import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultInstallResult, defaultMeshConfig } from '../../src/config/default-install.js';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { loadConfigText } from '../../src/config/load.js';
import { ConfigStore } from '../../src/config/store.js';
import type { ConfigSnapshot } from '../../src/config/types.js';

const mesh = defaultMeshConfig();
const sa = (name: string, label = 'a') => `apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ${name}\n  labels: {v: "${label}"}\n`;

function names(s: ConfigSnapshot): string[] {
  return s.serviceAccounts.map((x) => `${x.metadata.name}:${x.metadata.labels?.v ?? ''}`);
}

test('the store versions snapshots and reports the keys that changed', () => {
  const store = new ConfigStore(mesh);
  const seen: { version: number; changed: string[] }[] = [];
  const off = store.subscribe((snap, changed) => seen.push({ version: snap.version, changed: [...changed].sort() }));
  assert.equal(store.snapshot().version, 0);
  assert.deepEqual(store.setSource('f1', loadConfigText(`${sa('x')}---\n${sa('y')}`, 'f1.yaml')), []);
  store.setSource('f1', loadConfigText(`${sa('x', 'b')}---\n${sa('y')}`, 'f1.yaml'));
  store.setSource('f1', loadConfigText(`${sa('x', 'b')}---\n${sa('y')}`, 'f1.yaml')); // no change: no new version
  off();
  store.setSource('f2', loadConfigText(sa('z'), 'f2.yaml'));
  assert.deepEqual(seen, [
    { version: 1, changed: ['ServiceAccount/default/x', 'ServiceAccount/default/y'] },
    { version: 2, changed: ['ServiceAccount/default/x'] },
  ]);
  assert.equal(store.snapshot().version, 3);
});

test('an object that turns invalid keeps its last valid version, per object', () => {
  const store = new ConfigStore(mesh);
  store.setSource('f', loadConfigText(`${sa('x')}---\n${sa('y')}`, 'f.yaml'));
  const bad = `apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: x\n  labels: {v: 7}\n---\n${sa('y', 'b')}`;
  const diags = store.setSource('f', loadConfigText(bad, 'f.yaml'));
  assert.deepEqual(diags.map(formatDiagnostic), [
    'f.yaml:5:15: Error [IST0106] (ServiceAccount default/x) metadata.labels.v: expected string, found number 7',
    'f.yaml:1:1: Warning [MG0009] (ServiceAccount default/x) ServiceAccount/default/x is not valid in the new version of f.yaml; its last valid version (line 1) stays in force',
  ]);
  assert.deepEqual(names(store.snapshot()), ['x:a', 'y:b'], 'x kept its last good version, y took its new one');
});

test('a YAML syntax error keeps every object the file held; removing an object or the file removes it', () => {
  const store = new ConfigStore(mesh);
  store.setSource('f', loadConfigText(`${sa('x')}---\n${sa('y')}`, 'f.yaml'));
  const d = store.setSource('f', loadConfigText('apiVersion: v1\nkind: [', 'f.yaml'));
  assert.equal(d.filter((x) => x.code === 'MG0009').length, 2);
  assert.deepEqual(names(store.snapshot()), ['x:a', 'y:a']);
  assert.deepEqual(store.setSource('f', loadConfigText(sa('y'), 'f.yaml')), []);
  assert.deepEqual(names(store.snapshot()), ['y:a'], 'an object deleted from a valid file goes away');
  store.removeSource('f');
  assert.deepEqual(names(store.snapshot()), []);
});

test('an object from another source never replaces one already in force', () => {
  const store = new ConfigStore(mesh);
  store.setSource('a', loadConfigText(sa('x', 'first'), 'a.yaml'));
  const d = store.setSource('b', loadConfigText(sa('x', 'second'), 'b.yaml'));
  assert.deepEqual(d.map(formatDiagnostic), [
    'b.yaml:1:1: Error [MG0003] (ServiceAccount default/x) duplicate object: ServiceAccount/default/x is already defined at a.yaml:1:1; this one is ignored',
  ]);
  assert.deepEqual(names(store.snapshot()), ['x:first']);
});

test('a patch that stops applying is replaced by its last version that applied', () => {
  const store = new ConfigStore(mesh);
  store.setSource('install', defaultInstallResult(mesh));
  const target = { kind: 'Service', namespace: 'istio-system', name: 'istio-egressgateway' };
  const good = loadConfigText('[{"op": "add", "path": "/spec/ports/-", "value": {"name": "tls", "port": 15443}}]', 'p.json');
  good.patches[0]!.target = target;
  assert.deepEqual(store.setSource('p', good), []);
  const ports = () =>
    store
      .snapshot()
      .services.find((s) => s.metadata.name === 'istio-egressgateway')
      ?.spec.ports?.map((p) => p.port);
  assert.deepEqual(ports(), [80, 443, 15443]);
  const bad = loadConfigText('[{"op": "replace", "path": "/spec/ports/7/port", "value": 1}]', 'p.json');
  bad.patches[0]!.target = target;
  const d = store.setSource('p', bad);
  assert.deepEqual(
    d.map((x) => `${x.level} ${x.code}`),
    ['Error MG0005', 'Warning MG0009'],
  );
  assert.deepEqual(ports(), [80, 443, 15443]);
});

test('a subscriber that throws does not stop the others', () => {
  const errors: unknown[] = [];
  const store = new ConfigStore(mesh, { onListenerError: (e) => errors.push(e) });
  let called = 0;
  store.subscribe(() => {
    throw new Error('boom');
  });
  store.subscribe(() => called++);
  store.setSource('f', loadConfigText(sa('x'), 'f.yaml'));
  assert.equal(called, 1);
  assert.equal((errors[0] as Error).message, 'boom');
});

test("update applies many sources as one new snapshot, with each source's own diagnostics and removals", () => {
  const store = new ConfigStore(mesh);
  store.setSource('old', loadConfigText(sa('gone'), 'old.yaml'));
  const seen: string[][] = [];
  store.subscribe((_snap, changed) => seen.push([...changed].sort()));
  const bad = `apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: c\n  labels: {v: 7}\n`;
  const diags = store.update([
    { sourceId: 'a', result: loadConfigText(sa('a'), 'a.yaml') },
    { sourceId: 'b', result: loadConfigText(sa('b'), 'b.yaml') },
    { sourceId: 'c', result: loadConfigText(bad, 'c.yaml') },
    { sourceId: 'old', result: undefined },
  ]);
  assert.equal(seen.length, 1, 'one notification for the whole batch');
  assert.deepEqual(seen[0], ['ServiceAccount/default/a', 'ServiceAccount/default/b', 'ServiceAccount/default/gone']);
  assert.deepEqual(names(store.snapshot()), ['a:a', 'b:a']);
  assert.deepEqual(diags.get('a'), []);
  assert.deepEqual(diags.get('c')?.map(formatDiagnostic), [
    'c.yaml:5:15: Error [IST0106] (ServiceAccount default/c) metadata.labels.v: expected string, found number 7',
  ]);
  assert.deepEqual(store.sourceIds().sort(), ['a', 'b', 'c']);
});
