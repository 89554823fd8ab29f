// Starting the lab's processes: each in its pod's network namespace (netns mode) or with its own
// /etc/hosts (loopback mode, through a private mount namespace), optionally as the proxy's uid, with
// stdout/stderr appended to a log file in the state dir, and recorded by pid and start time the
// moment it exists. Every wrapper (`ip netns exec`, `unshare`, `setpriv`, `sh -c exec`) execs, so the
// recorded pid is the program's own.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { LabState } from './lab-state.js';
import { processStartTime } from './lab-state.js';

export class LabProcessError extends Error {
  constructor(
    readonly code: 'E_LAB_PROCESS',
    message: string,
    readonly processName: string,
    readonly logFile?: string,
  ) {
    super(message);
    this.name = 'LabProcessError';
  }
}

export interface LabProcessSpec {
  /** Unique, human-readable: `cluster-a/istio-system/istio-egressgateway/proxy`. */
  name: string;
  argv: string[];
  netns?: string;
  /** loopback mode: a hosts file bind-mounted over /etc/hosts for this process only. */
  hostsFile?: string;
  /** Run as this uid/gid (the proxy's 1337, so capture does not loop its own traffic). */
  uid?: number;
  env?: Record<string, string>;
  cwd?: string;
  /** Extra file descriptors handed to the child as fd 3, 4, ... */
  extraFds?: number[];
}

export interface LabProcess {
  name: string;
  pid: number;
  logFile: string;
  child: ChildProcess;
}

let mountNamespacesUsable: boolean | undefined;

/** Whether this user can make a private mount namespace (root, or unprivileged user namespaces). */
export function privateHostsAvailable(): boolean {
  if (mountNamespacesUsable === undefined) {
    const r = spawnSync('unshare', [...unshareArgs(), 'true'], { stdio: 'ignore', timeout: 10_000 });
    mountNamespacesUsable = r.status === 0;
  }
  return mountNamespacesUsable;
}

function unshareArgs(): string[] {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  // Private propagation: the bind mount below never reaches the host's mount table.
  return ['--mount', '--propagation', 'private', ...(root ? [] : ['--map-root-user'])];
}

export function wrapArgv(spec: Pick<LabProcessSpec, 'argv' | 'netns' | 'hostsFile' | 'uid'>): string[] {
  let argv = spec.argv;
  if (spec.uid !== undefined) argv = ['setpriv', `--reuid=${spec.uid}`, `--regid=${spec.uid}`, '--clear-groups', '--', ...argv];
  if (spec.netns !== undefined) return ['ip', 'netns', 'exec', spec.netns, ...argv];
  if (spec.hostsFile !== undefined && privateHostsAvailable()) {
    return ['unshare', ...unshareArgs(), 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', spec.hostsFile, ...argv];
  }
  return argv;
}

/** Starts a recorded process; it outlives this process unless stopped (the state file keeps its pid). */
export function startLabProcess(state: LabState, logDir: string, spec: LabProcessSpec): Promise<LabProcess> {
  mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `${spec.name.replace(/[^A-Za-z0-9_.-]+/g, '_')}.log`);
  const fd = openSync(logFile, 'a', 0o644);
  const argv = wrapArgv(spec);
  let child: ChildProcess;
  try {
    child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', fd, fd, ...(spec.extraFds ?? [])],
      env: { ...process.env, ...spec.env },
      cwd: spec.cwd,
      // Its own process group: a Ctrl-C in the terminal reaches `lab up`, which then stops everything
      // in order, instead of every process at once.
      detached: true,
    });
  } finally {
    closeSync(fd);
  }
  return new Promise((resolve, reject) => {
    child.once('error', (err) =>
      reject(new LabProcessError('E_LAB_PROCESS', `cannot start ${spec.name} (${argv[0]}): ${err.message}`, spec.name, logFile)),
    );
    child.once('spawn', () => {
      const pid = child.pid!;
      const startTime = processStartTime(pid);
      state.add({ kind: 'process', name: spec.name, pid, startTime: startTime ?? '', ...(spec.netns ? { netns: spec.netns } : {}) });
      resolve({ name: spec.name, pid, logFile, child });
    });
  });
}

/** A lab child entry point: the compiled JS beside the caller, or its TypeScript source under tsx. */
export function nodeEntry(name: string, from: string): string[] {
  const here = path.dirname(fileURLToPath(from));
  const js = path.join(here, `${name}.js`);
  if (existsSync(js)) return [process.execPath, js];
  return [process.execPath, '--import', 'tsx', path.join(here, `${name}.ts`)];
}
