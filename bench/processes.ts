// Child processes the benchmark starts, recorded by pid and stopped by that pid (SIGTERM, then SIGKILL
// after a grace period). Nothing is ever stopped by name.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface BenchProcess {
  name: string;
  pid: number;
  child: ChildProcess;
  /** The last lines written to stdout/stderr, for error messages. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export class ProcessStartError extends Error {
  readonly code = 'E_BENCH_PROCESS';
}

export class ProcessGroup {
  private readonly procs: BenchProcess[] = [];

  start(name: string, command: string, args: string[], opts: SpawnOptions = {}): BenchProcess {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    if (child.pid === undefined) throw new ProcessStartError(`${name}: could not start ${command}`);
    const lines: string[] = [];
    const keep = (chunk: Buffer): void => {
      lines.push(chunk.toString('utf8'));
      if (lines.length > 50) lines.splice(0, lines.length - 50);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (err) => {
        lines.push(String(err));
        resolve({ code: -1, signal: null });
      });
    });
    const proc: BenchProcess = { name, pid: child.pid, child, output: () => lines.join('').slice(-4000), exited };
    this.procs.push(proc);
    return proc;
  }

  list(): readonly BenchProcess[] {
    return this.procs;
  }

  async stop(proc: BenchProcess, graceMs = 3000): Promise<void> {
    const idx = this.procs.indexOf(proc);
    if (idx >= 0) this.procs.splice(idx, 1);
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
    proc.child.kill('SIGTERM');
    const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
    await proc.exited;
    clearTimeout(timer);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.procs].map((p) => this.stop(p)));
  }
}
