// The repository root for every test: the package's own finder, asked from here, so fixtures are found
// from test/ (tsx) and dist/test/ (compiled) alike.
import { packageRoot } from '../src/shared/package-root.js';

export function repoRoot(): string {
  return packageRoot();
}
