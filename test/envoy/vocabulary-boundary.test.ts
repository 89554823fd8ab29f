// The vocabulary (src/envoy/) is types and pure helpers: it imports nothing but itself and node's own
// modules that do no I/O, and the model reaches Envoy's resource shapes through it, never through the
// xDS transport. Checked on the source files themselves, so a moved import fails here even before lint.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../repo-root.js';

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"]([^'"]+)['"]/g)].map((m) => m[1]);
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath, e.name));
}

test('src/envoy imports only its own files: no gRPC, no transport, no I/O', () => {
  const files = tsFiles(path.join(repoRoot(), 'src', 'envoy'));
  assert.ok(files.length >= 5, 'the vocabulary files live in src/envoy');
  const outside = files.flatMap((f) =>
    importsOf(f)
      .filter((s) => !s.startsWith('./'))
      .map((s) => `${path.basename(f)}: ${s}`),
  );
  assert.deepEqual(outside, []);
});

test('src/model does not import the xDS transport (src/xds)', () => {
  const files = tsFiles(path.join(repoRoot(), 'src', 'model'));
  const xds = files.flatMap((f) =>
    importsOf(f)
      .filter((s) => /(^|\/)xds\//.test(s) || s.includes('grpc'))
      .map((s) => `${path.basename(f)}: ${s}`),
  );
  assert.deepEqual(xds, []);
});
