// Waiting for and ending child processes the lab started: SIGTERM first, SIGKILL after a grace
// period, always by the exact ChildProcess object (never by name).
import type { ChildProcess } from 'node:child_process';

/** Resolves with the exit code (or signal name) once `child` has exited, or `undefined` after `timeoutMs`. */
export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<number | string | undefined> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  if (child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(undefined);
    }, timeoutMs);
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(timer);
      resolve(code ?? signal ?? undefined);
    };
    child.once('exit', onExit);
  });
}

/** Sends SIGTERM, waits up to `graceMs`, then SIGKILL and waits again. Safe to call on an exited child. */
export async function terminateChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  if ((await waitForExit(child, graceMs)) !== undefined) return;
  child.kill('SIGKILL');
  await waitForExit(child, 5_000);
}

/** True while a process with this pid exists (signal 0 probes without delivering anything). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // ESRCH: no such process. EPERM means it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Ends a process known only by pid (from a state file): SIGTERM, then SIGKILL after `graceMs`. */
export async function terminatePid(pid: number, graceMs = 10_000): Promise<void> {
  if (!pidAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return;
    throw err;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!pidAlive(pid)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return;
    throw err;
  }
  for (let i = 0; i < 50 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
}
