// `meshgate proxy --runtime bun` run from Node (or `--runtime node` from Bun): the same command again
// under the other runtime's executable, as a child — same arguments less --runtime, same environment,
// same standard streams. Node 20 cannot replace its own process image, so this process stays as a thin
// parent: it forwards the signals a supervisor sends (SIGTERM, SIGINT, SIGHUP) and exits as the child
// did (its code, or 128 + the signal's number when a signal ended it, as a shell reports it). The lab and the benchmark start the runtime's executable directly
// (src/shared/runtime.ts meshgateArgv), so their recorded pids are the proxies' own.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { meshgateArgv, type Runtime } from '../shared/runtime.js';

const FORWARDED = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/** The arguments after the executable and script, with every `--runtime X` and `--runtime=X` taken out. */
export function argsWithoutRuntime(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    if (a === '--runtime') {
      i++;
      continue;
    }
    if (a.startsWith('--runtime=')) continue;
    out.push(a);
  }
  return out;
}

/** The value of the last `--runtime X` or `--runtime=X` before `--`, if any. */
export function requestedRuntime(args: readonly string[]): string | undefined {
  let found: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') break;
    if (a === '--runtime' && i + 1 < args.length) found = args[++i];
    else if (a.startsWith('--runtime=')) found = a.slice('--runtime='.length);
  }
  return found;
}

/** Runs `meshgate <args>` under `runtime` and resolves with the exit status this process should end with. */
export function runUnder(runtime: Runtime, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [exe, main] = meshgateArgv(runtime);
  const child = spawn(exe!, [main!, ...argsWithoutRuntime(args)], { stdio: 'inherit', env });
  const handlers = FORWARDED.map((sig) => {
    const h = (): void => {
      child.kill(sig);
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  return new Promise((resolve, reject) => {
    child.once('error', (err) => {
      for (const [sig, h] of handlers) process.off(sig, h);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      for (const [sig, h] of handlers) process.off(sig, h);
      // A child killed by a signal: the shell's convention, 128 + the signal's number.
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}
