import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultInstallObjects, defaultMeshConfig } from '../../src/config/default-install.js';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { applyJsonPatch, parsePointer } from '../../src/config/json-patch.js';
import { loadConfigText } from '../../src/config/load.js';
import { buildSnapshot } from '../../src/config/snapshot.js';
import type { JsonPatchOp } from '../../src/config/types.js';

test('all six RFC 6902 operations', () => {
  const doc = { a: { b: [1, 2, 3] }, c: 'x', 'd/e': { '~f': 1 } };
  assert.deepEqual(applyJsonPatch(doc, [{ op: 'add', path: '/a/b/1', value: 9 }]).a.b, [1, 9, 2, 3]);
  assert.deepEqual(applyJsonPatch(doc, [{ op: 'add', path: '/a/b/-', value: 9 }]).a.b, [1, 2, 3, 9]);
  assert.deepEqual(applyJsonPatch(doc, [{ op: 'remove', path: '/a/b/0' }]).a.b, [2, 3]);
  assert.deepEqual(applyJsonPatch(doc, [{ op: 'replace', path: '/c', value: 'y' }]).c, 'y');
  assert.deepEqual(applyJsonPatch(doc, [{ op: 'move', from: '/c', path: '/z' }]), { a: { b: [1, 2, 3] }, z: 'x', 'd/e': { '~f': 1 } });
  assert.deepEqual(applyJsonPatch(doc, [{ op: 'copy', from: '/a/b', path: '/a/c' }]).a, { b: [1, 2, 3], c: [1, 2, 3] });
  assert.deepEqual(applyJsonPatch(doc, [{ op: 'test', path: '/d~1e/~0f', value: 1 }]), doc);
  assert.deepEqual(doc, { a: { b: [1, 2, 3] }, c: 'x', 'd/e': { '~f': 1 } }, 'the input is not modified');
});

test('failures name the op index and path', () => {
  const doc = { a: [1] };
  assert.throws(
    () =>
      applyJsonPatch(doc, [
        { op: 'add', path: '/a/-', value: 2 },
        { op: 'replace', path: '/b', value: 1 },
      ]),
    { code: 'E_JSON_PATCH', opIndex: 1, path: '/b', message: 'path "/b" does not exist' },
  );
  assert.throws(() => applyJsonPatch(doc, [{ op: 'test', path: '/a', value: [2] }]), {
    opIndex: 0,
    message: 'test failed: the value at "/a" is [1], not [2]',
  });
  assert.throws(() => applyJsonPatch(doc, [{ op: 'add', path: '/a/5', value: 2 }]), {
    message: 'index 5 is out of bounds (the array has 1 elements)',
  });
  assert.throws(() => applyJsonPatch(doc, [{ op: 'move', from: '/a', path: '/a/0' }]), {
    message: 'cannot move "/a" into its own child "/a/0"',
  });
  assert.throws(() => applyJsonPatch(doc, [{ op: 'remove', path: '' }]), { message: 'cannot remove the whole document' });
  assert.throws(() => parsePointer('a/b'), /must be empty or start with "\/"/);
  assert.throws(() => parsePointer('/a~2'), /"~" must be followed by 0 or 1/);
});

test('refuses __proto__, constructor and prototype as path segments, leaving every prototype untouched', () => {
  const doc = { metadata: { name: 'a' }, spec: { ports: [] as unknown[] } };
  const cases: [JsonPatchOp, string, string][] = [
    [{ op: 'add', path: '/__proto__', value: { polluted: true } }, '/__proto__', '__proto__'],
    [{ op: 'add', path: '/spec/__proto__/polluted', value: true }, '/spec/__proto__/polluted', '__proto__'],
    [{ op: 'replace', path: '/constructor', value: 1 }, '/constructor', 'constructor'],
    [{ op: 'add', path: '/constructor/prototype/polluted', value: true }, '/constructor/prototype/polluted', 'constructor'],
    [{ op: 'add', path: '/spec/prototype', value: {} }, '/spec/prototype', 'prototype'],
    [{ op: 'add', path: '/spec/ports/-', value: 1 }, '/spec/ports/-', ''],
    [{ op: 'copy', from: '/__proto__', path: '/spec/x' }, '/spec/x', '__proto__'],
    [{ op: 'move', from: '/metadata', path: '/__proto__' }, '/__proto__', '__proto__'],
  ];
  for (const [op, path, segment] of cases) {
    if (segment === '') {
      assert.deepEqual(applyJsonPatch(doc, [op]).spec.ports, [1], 'an ordinary path still applies');
      continue;
    }
    assert.throws(
      () => applyJsonPatch(doc, [{ op: 'test', path: '/metadata/name', value: 'a' }, op]),
      (err: Error & { code?: string; opIndex?: number; path?: string }) => {
        assert.equal(err.code, 'E_JSON_PATCH', JSON.stringify(op));
        assert.equal(err.opIndex, 1);
        assert.equal(err.path, path);
        assert.match(err.message, new RegExp(`"${segment}" is not allowed as a path segment \\(it could change an object's prototype\\)`));
        return true;
      },
    );
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is untouched');
  assert.equal(Object.getPrototypeOf(doc), Object.prototype);
});

test('a patch file with a __proto__ path is reported at its file and line, and its target stays unpatched', () => {
  const text =
    '[\n  {"op": "add", "path": "/metadata/labels/x", "value": "1"},\n  {"op": "add", "path": "/__proto__", "value": {"spec": {"type": "NodePort"}}}\n]\n';
  const loaded = loadConfigText(text, 'p.json');
  assert.deepEqual(loaded.diagnostics, []);
  const mesh = defaultMeshConfig();
  const install = defaultInstallObjects(mesh).map((object) => ({ object, source: { file: '<install>', line: 1, column: 1 } }));
  const patch = { ...loaded.patches[0]!, target: { kind: 'Service', namespace: 'istio-system', name: 'istio-ingressgateway' } };
  const built = buildSnapshot(install, [patch], mesh, 1);
  assert.deepEqual(built.diagnostics.map(formatDiagnostic), [
    'p.json:3:3: Error [MG0005] (Service istio-system/istio-ingressgateway) [1]: op 1 (add /__proto__) failed on Service/istio-system/istio-ingressgateway: "/__proto__" is refused: "__proto__" is not allowed as a path segment (it could change an object\'s prototype); the object is left unpatched',
  ]);
  const svc = built.snapshot.services.find((s) => s.metadata.name === 'istio-ingressgateway');
  assert.equal(svc?.metadata.labels?.x, undefined);
  assert.equal(Object.getPrototypeOf(svc), Object.prototype);
});
