// Starting the soak's own helper processes (the TLS attack target, the control plane under attack):
// the compiled `.js` beside this file when running from dist/, the `.ts` source through tsx otherwise.
// Each is recorded in a ProcessGroup (bench/processes.ts) and stopped by its pid.
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { existsSync } from 'node:fs';
import type { BenchProcess, ProcessGroup } from '../bench/processes.js';
import { packageRoot } from '../src/shared/package-root.js';

export class SoakChildError extends Error {
  readonly code = 'E_SOAK_CHILD';
}

const here = path.dirname(fileURLToPath(import.meta.url));

/** node + arguments that run `soak/<rel>` (without extension) in a new process. */
export function soakScript(rel: string): string[] {
  const js = path.join(here, `${rel}.js`);
  if (import.meta.url.endsWith('.js') && existsSync(js)) return [process.execPath, js];
  return [process.execPath, '--import', 'tsx', path.join(here, `${rel}.ts`)];
}

/** Starts a child that prints one JSON line when ready; resolves with that line parsed. */
export async function startJsonReady<T>(
  group: ProcessGroup,
  name: string,
  argv: string[],
  timeoutMs = 30_000,
): Promise<{ proc: BenchProcess; ready: T }> {
  const proc = group.start(name, argv[0]!, argv.slice(1), { cwd: packageRoot() });
  let buf = '';
  const ready = await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new SoakChildError(`${name} did not report ready within ${timeoutMs} ms: ${proc.output()}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      proc.child.stdout?.off('data', onData);
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as T);
      } catch (err) {
        reject(new SoakChildError(`${name} printed something other than its ready line: ${buf.slice(0, 200)} (${(err as Error).message})`));
      }
    };
    proc.child.stdout?.on('data', onData);
    proc.exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new SoakChildError(`${name} exited (${code ?? signal}) before it was ready: ${proc.output()}`));
    }, reject);
  }).catch(async (err: unknown) => {
    await group.stop(proc);
    throw err;
  });
  return { proc, ready };
}

export function isAlive(proc: BenchProcess): boolean {
  return proc.child.exitCode === null && proc.child.signalCode === null;
}
