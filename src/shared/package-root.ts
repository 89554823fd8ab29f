// The package root (the folder holding meshgate's package.json), found by walking up from a file of the
// package. Works from `src/` (tsx) and from `dist/src/` (compiled) alike; the CLI, the lab, the capture
// addon loader and the tests all ask here.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export function packageRoot(from: string = here): string {
  let dir = from;
  for (let i = 0; i < 16; i++) {
    if (isMeshgateRoot(dir)) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw Object.assign(new Error(`no meshgate package.json above ${from}`), { code: 'E_PACKAGE_ROOT' });
}

function isMeshgateRoot(dir: string): boolean {
  const file = path.join(dir, 'package.json');
  if (!existsSync(file)) return false;
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'meshgate';
  } catch {
    return false;
  }
}
