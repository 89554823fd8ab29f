// The seed scenario's folders for the tests: ../shared/scenario when present, else the seed's files copied
// out of the example.
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../repo-root.js';

export function seedDir(which: 'client-cluster' | 'server-cluster'): string {
  const shared = path.resolve(repoRoot(), '..', 'shared', 'scenario', which);
  if (existsSync(shared)) return shared;
  // The example holds the seed's files byte for byte, beside what it adds; where the shared folder is
  // absent, copy just the seed's files out of it so the tests see the seed alone.
  const example = path.join(repoRoot(), 'examples', 'mysql-cross-cluster', which === 'client-cluster' ? 'cluster-a' : 'cluster-b');
  const cached = seedCopies.get(which);
  if (cached) return cached;
  const dir = mkdtempSync(path.join(os.tmpdir(), `meshgate-seed-${which}-`));
  if (seedCopies.size === 0)
    process.on('exit', () => {
      for (const d of seedCopies.values()) rmSync(d, { recursive: true, force: true });
    });
  seedCopies.set(which, dir);
  for (const f of SEED_FILES[which]) copyFileSync(path.join(example, f), path.join(dir, f));
  return dir;
}

const seedCopies = new Map<string, string>();

const SEED_FILES = {
  'client-cluster': [
    'destination-rule-egressgateway.yaml',
    'destination-rule-originate-mtls.yaml',
    'service-entry.yaml',
    'virtual-service.yaml',
  ],
  'server-cluster': ['gateway.yaml', 'ingressgateway-service-patch.json', 'virtual-service.yaml'],
} as const;
