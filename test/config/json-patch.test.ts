import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyJsonPatch, parsePointer } from '../../src/config/json-patch.js';

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
  assert.throws(() => applyJsonPatch(doc, [{ op: 'add', path: '/a/-', value: 2 }, { op: 'replace', path: '/b', value: 1 }]), { code: 'E_JSON_PATCH', opIndex: 1, path: '/b', message: 'path "/b" does not exist' });
  assert.throws(() => applyJsonPatch(doc, [{ op: 'test', path: '/a', value: [2] }]), { opIndex: 0, message: 'test failed: the value at "/a" is [1], not [2]' });
  assert.throws(() => applyJsonPatch(doc, [{ op: 'add', path: '/a/5', value: 2 }]), { message: 'index 5 is out of bounds (the array has 1 elements)' });
  assert.throws(() => applyJsonPatch(doc, [{ op: 'move', from: '/a', path: '/a/0' }]), { message: 'cannot move "/a" into its own child "/a/0"' });
  assert.throws(() => applyJsonPatch(doc, [{ op: 'remove', path: '' }]), { message: 'cannot remove the whole document' });
  assert.throws(() => parsePointer('a/b'), /must be empty or start with "\/"/);
  assert.throws(() => parsePointer('/a~2'), /"~" must be followed by 0 or 1/);
});
