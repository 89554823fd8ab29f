// CPU time and resident memory of processes, read from /proc (Linux). CPU is user + system time of all
// of a process's threads (fields 14 and 15 of /proc/PID/stat, in clock ticks).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100; // getconf missing: USER_HZ is 100 on every Linux architecture Node supports
    }
  }
  return ticksPerSecond;
}

export class ProcStatError extends Error {
  readonly code = 'E_BENCH_PROCSTAT';
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    throw new ProcStatError(`process ${pid} is gone (${(err as Error).message})`);
  }
  // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / clockTicks();
}

/** Resident set size in kB (VmRSS). */
export function rssKb(pid: number): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch (err) {
    throw new ProcStatError(`process ${pid} is gone (${(err as Error).message})`);
  }
  const m = text.match(/^VmRSS:\s+(\d+) kB/m);
  if (!m) throw new ProcStatError(`process ${pid}: no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

/** Runs `fn` and returns its result with the CPU seconds the given processes used meanwhile, in all and each. */
export async function measureCpu<T>(
  pids: readonly number[],
  fn: () => Promise<T>,
): Promise<{ result: T; cpuSeconds: number; cpuSecondsEach: number[] }> {
  const before = pids.map(cpuSeconds);
  const result = await fn();
  const cpuSecondsEach = pids.map((pid, i) => cpuSeconds(pid) - before[i]!);
  return { result, cpuSeconds: cpuSecondsEach.reduce((a, b) => a + b, 0), cpuSecondsEach };
}
