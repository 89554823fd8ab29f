// The repository root, found by walking up to package.json, so that tests find fixtures both from
// test/config/ (tsx) and from dist/test/config/ (compiled).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 10; i++) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error('package.json not found above the test file');
}

export function seedDir(which: 'client-cluster' | 'server-cluster'): string {
  const shared = path.resolve(repoRoot(), '..', 'shared', 'scenario', which);
  if (existsSync(shared)) return shared;
  // The example holds the seed's files byte for byte; use it where the shared folder is absent.
  return path.join(repoRoot(), 'examples', 'mysql-cross-cluster', which === 'client-cluster' ? 'cluster-a' : 'cluster-b');
}
