// Test harness for capture: network namespaces this run creates (names unique per run, removed by
// name in t.after), and child processes running inside them, optionally as another user.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { findExecutable } from '../../src/capture/command.js';
import { repoRoot } from '../repo-root.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const compiled = import.meta.url.endsWith('.js');

/** Why tests that need root and netfilter cannot run here, or undefined when they can. */
export function netnsSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces and iptables need Linux';
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'needs root (network namespaces and iptables)';
  for (const tool of ['ip', 'iptables', 'iptables-restore', 'iptables-save']) {
    if (!findExecutable(tool)) return `${tool} is not installed (Debian: apt-get install iproute2 iptables)`;
  }
  return undefined;
}

let counter = 0;
/** A name unique to this process and call, e.g. mg-t-4242-3 (Linux limits interface names, not namespace names). */
export function uniqueName(tag: string): string {
  counter++;
  return `mg-t-${process.pid}-${tag}${counter}`;
}

export function sh(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, timeout: 20_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`);
  return r.stdout;
}

/** Creates a network namespace with lo up and removes it (and everything in it) after the test. */
export function createNetns(t: TestContext, tag: string): string {
  const name = uniqueName(tag);
  sh('ip', ['netns', 'add', name]);
  t.after(() => {
    spawnSync('ip', ['netns', 'del', name], { timeout: 10_000 });
  });
  sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

/** A veth pair between two namespaces, created inside them (never on the host), with addresses. */
export function linkNamespaces(a: string, aAddr: string, b: string, bAddr: string): void {
  sh('ip', ['-n', a, 'link', 'add', 'mgt0', 'type', 'veth', 'peer', 'name', 'mgt1', 'netns', b]);
  sh('ip', ['-n', a, 'addr', 'add', aAddr, 'dev', 'mgt0']);
  sh('ip', ['-n', b, 'addr', 'add', bAddr, 'dev', 'mgt1']);
  sh('ip', ['-n', a, 'link', 'set', 'mgt0', 'up']);
  sh('ip', ['-n', b, 'link', 'set', 'mgt1', 'up']);
}

/** The variable the fixtures read their `--run-as` from. */
export const RUN_AS_ENV = 'MESHGATE_FIXTURE_RUN_AS';

export interface RunAs {
  uid: number;
  gid: number;
}

/** argv running a fixture from test/capture/fixtures with node (through tsx when the tests run from .ts). */
export function fixtureArgv(name: string, args: string[]): string[] {
  const file = path.join(here, 'fixtures', `${name}.${compiled ? 'js' : 'ts'}`);
  return [process.execPath, ...(compiled ? [] : ['--import', 'tsx']), file, ...args];
}

/**
 * `as`: the fixture starts as root and drops to that user itself once its code is loaded (fixtures/
 * run-as.ts), as `meshgate proxy --run-as` does, so the tests run from a checkout only root can read.
 */
function wrap(netns: string, argv: string[], as?: RunAs): [string, string[], NodeJS.ProcessEnv] {
  const env = { ...process.env };
  delete env[RUN_AS_ENV];
  if (as) env[RUN_AS_ENV] = `${as.uid}:${as.gid}`;
  return ['ip', ['netns', 'exec', netns, ...argv], env];
}

/** Runs a command in a namespace to completion (20 s limit) and returns its output. */
export function runIn(
  netns: string,
  argv: string[],
  opts: { as?: RunAs; input?: string } = {},
): { status: number | null; stdout: string; stderr: string } {
  const [cmd, args, env] = wrap(netns, argv, opts.as);
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: repoRoot(), env, input: opts.input, timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Like runIn, without blocking the event loop (for clients of servers running in this process). */
export function runInAsync(
  netns: string,
  argv: string[],
  opts: { as?: RunAs } = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const [cmd, args, env] = wrap(netns, argv, opts.as);
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: repoRoot(), env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** A long-running child in a namespace whose stdout is JSON lines; killed after the test. */
export class JsonChild {
  readonly lines: Record<string, unknown>[] = [];
  stderr = '';
  private readonly proc: ChildProcess;
  private waiters: Array<() => void> = [];

  constructor(t: TestContext, netns: string, argv: string[], as?: RunAs) {
    const [cmd, args, env] = wrap(netns, argv, as);
    this.proc = spawn(cmd, args, { cwd: repoRoot(), env, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch (err) {
          this.lines.push({ event: 'unparsed', line, error: String(err) });
        }
        for (const w of this.waiters.splice(0)) w();
      }
    });
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.proc.on('exit', () => {
      for (const w of this.waiters.splice(0)) w();
    });
    t.after(() => this.stop());
  }

  /** Resolves with the first line matching pred; rejects after timeoutMs or when the child exits first. */
  async waitFor(pred: (l: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.find(pred);
      if (hit) return hit;
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
        throw new Error(
          `child exited (${this.proc.exitCode ?? this.proc.signalCode}) before the expected line; stderr: ${this.stderr}; lines: ${JSON.stringify(this.lines)}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a line; stderr: ${this.stderr}; lines: ${JSON.stringify(this.lines)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  stop(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}
