import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyPatch, mergePatch, patchTypeOf, strategicMergePatch as smp, PatchError } from '../../src/kube/apiserver-double/patch.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const strategicMergePatch = (t: unknown, p: unknown): any => smp(t as never, p as never);

test('merge patch (RFC 7386): null removes, objects merge, lists replace', () => {
  assert.deepEqual(mergePatch({ a: 1, b: { c: 2, d: 3 }, l: [1, 2] }, { a: null, b: { c: 5 }, l: [3] }), { b: { c: 5, d: 3 }, l: [3] });
  assert.throws(() => mergePatch({}, JSON.parse('{"__proto__": {"x": 1}}')), PatchError);
});

test('strategic merge patch: lists of objects merge by key, $patch delete/replace, $setElementOrder, $deleteFromPrimitiveList, $retainKeys', () => {
  const svc = {
    spec: {
      ports: [
        { name: 'a', port: 1 },
        { name: 'b', port: 2 },
      ],
      finalizers: ['x', 'y'],
    },
  };
  assert.deepEqual(strategicMergePatch(svc, { spec: { ports: [{ name: 'b', port: 20 }] } }), {
    spec: {
      ports: [
        { name: 'a', port: 1 },
        { name: 'b', port: 20 },
      ],
      finalizers: ['x', 'y'],
    },
  });
  assert.deepEqual(strategicMergePatch(svc, { spec: { ports: [{ name: 'a', $patch: 'delete' }] } }).spec.ports, [{ name: 'b', port: 2 }]);
  assert.deepEqual(
    strategicMergePatch(svc, {
      spec: { ports: [{ name: 'c', port: 3 }], '$setElementOrder/ports': [{ name: 'c' }, { name: 'b' }, { name: 'a' }] },
    }).spec.ports.map((p: { name: string }) => p.name),
    ['c', 'b', 'a'],
  );
  assert.deepEqual(strategicMergePatch(svc, { spec: { ports: [{ name: 'z', port: 9 }, { $patch: 'replace' }] } }).spec.ports, [
    { name: 'z', port: 9 },
  ]);
  assert.deepEqual(strategicMergePatch(svc, { spec: { '$deleteFromPrimitiveList/finalizers': ['x'] } }).spec.finalizers, ['y']);
  assert.deepEqual(strategicMergePatch({ spec: { a: 1, b: 2 } }, { spec: { $retainKeys: ['b'], b: 3 } }), { spec: { b: 3 } });
  assert.deepEqual(strategicMergePatch({ spec: { a: { x: 1 } } }, { spec: { a: { $patch: 'delete' } } }), { spec: {} });
});

test('patch types by content type; a JSON patch applies RFC 6902 ops', () => {
  assert.equal(patchTypeOf('application/merge-patch+json'), 'merge');
  assert.equal(patchTypeOf('application/strategic-merge-patch+json; charset=utf-8'), 'strategic');
  assert.equal(patchTypeOf('application/json-patch+json'), 'json');
  assert.equal(patchTypeOf('application/apply-patch+yaml'), undefined, 'server-side apply is not served');
  assert.deepEqual(applyPatch('json', { spec: { ports: [{ port: 1 }] } }, [{ op: 'add', path: '/spec/ports/0', value: { port: 0 } }]), {
    spec: { ports: [{ port: 0 }, { port: 1 }] },
  });
  assert.throws(() => applyPatch('json', { a: 1 }, { op: 'add' }), PatchError);
});
