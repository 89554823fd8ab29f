// The JavaScript runtime a meshgate process runs under: Node (the default) or Bun. Bun comes from npm as
// the optional dependency @oven/bun-linux-x64 (`npm ci` installs it on linux-x64 with glibc and skips it
// elsewhere); MESHGATE_BUN_BINARY points at another Bun binary (another platform, a Bun build of one's own).
// The proxy, the lab and the benchmark ask here which executable runs `dist/src/cli/main.js`.
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from './package-root.js';

export type Runtime = 'node' | 'bun';
export const RUNTIMES: readonly Runtime[] = ['node', 'bun'];
export const BUN_PACKAGE = '@oven/bun-linux-x64';

export class RuntimeError extends Error {
  constructor(
    readonly code: 'E_RUNTIME_UNKNOWN' | 'E_RUNTIME_MISSING',
    message: string,
  ) {
    super(message);
    this.name = 'RuntimeError';
  }
}

export function parseRuntime(v: string): Runtime {
  if ((RUNTIMES as readonly string[]).includes(v)) return v as Runtime;
  throw new RuntimeError('E_RUNTIME_UNKNOWN', `unknown runtime "${v}" (runtimes: ${RUNTIMES.join(', ')})`);
}

/** The runtime running this process. */
export function currentRuntime(): Runtime {
  return process.versions.bun !== undefined ? 'bun' : 'node';
}

/**
 * Bun's executable: MESHGATE_BUN_BINARY when set, else the one npm installed under the package root's
 * node_modules. Throws a RuntimeError naming the package (and how to get it) when there is none.
 */
export function bunBinary(root: string = packageRoot(), env: NodeJS.ProcessEnv = process.env): string {
  const given = env.MESHGATE_BUN_BINARY;
  const file = given || path.join(root, 'node_modules', ...BUN_PACKAGE.split('/'), 'bin', 'bun');
  try {
    accessSync(file, constants.X_OK);
    return file;
  } catch {
    const why = given
      ? `MESHGATE_BUN_BINARY=${given} is not an executable file`
      : `${file} is missing: the optional dependency ${BUN_PACKAGE} is not installed (npm ci installs it on linux-x64 with glibc; elsewhere set MESHGATE_BUN_BINARY to a Bun binary)`;
    throw new RuntimeError('E_RUNTIME_MISSING', `cannot run under bun: ${why}`);
  }
}

/** Why Bun cannot be used here, or undefined when it can (for tests and benchmarks that skip). */
export function bunUnavailableReason(root?: string): string | undefined {
  try {
    bunBinary(root);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The executable for `runtime`: this process's own when it is that runtime, else Node from PATH or Bun's binary. */
export function runtimeExecutable(runtime: Runtime): string {
  if (runtime === currentRuntime()) return process.execPath;
  return runtime === 'bun' ? bunBinary() : 'node';
}

/** `meshgate` as a command line under `runtime`: the compiled CLI run by that runtime's executable. */
export function meshgateArgv(runtime: Runtime = 'node', root: string = packageRoot()): string[] {
  const main = path.join(root, 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(main)) throw new RuntimeError('E_RUNTIME_MISSING', `${main} is missing: run "npm run build" first`);
  return [runtimeExecutable(runtime), main];
}
