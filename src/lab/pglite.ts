// The zero-install database: PostgreSQL compiled to WebAssembly (PGlite) behind its socket server,
// speaking the real Postgres wire protocol, run as a child process (in a network namespace when asked)
// with the same shape as startMariaDb.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { terminateChild } from './child-exit.js';
import { nodeEntry } from './lab-process.js';

export class PgLiteError extends Error {
  constructor(
    readonly code: 'E_PGLITE_START',
    message: string,
  ) {
    super(message);
    this.name = 'PgLiteError';
  }
}

export interface PgLiteOptions {
  bindAddress: string;
  port: number;
  /** Persistent data directory; in memory when absent. */
  dataDir?: string;
  netns?: string;
  log?: (line: string) => void;
  readyTimeoutMs?: number;
}

export interface RunningPgLite {
  host: string;
  port: number;
  /** Unix socket for administration outside the mesh (`psql -h <dir of socket>` or pg's `host`). */
  socketPath: string;
  pid: number;
  database: 'postgres';
  user: 'postgres';
  password: 'postgres';
  stop(): Promise<void>;
}

/** PGlite ships with meshgate's dependencies, so it is always available. */
export function pgLiteAvailable(): { ok: boolean; reason?: string; install?: string } {
  return { ok: true };
}

export async function startPgLite(opts: PgLiteOptions): Promise<RunningPgLite> {
  const log = opts.log ?? ((): void => undefined);
  const runDir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-pglite-'));
  // Postgres clients expect `<dir>/.s.PGSQL.<port>`; keeping that name lets psql -h <dir> find it.
  const socketPath = path.join(runDir, `.s.PGSQL.${opts.port}`);
  const entry = nodeEntry('pglite-server', import.meta.url);
  const args = [
    ...entry,
    '--host',
    opts.bindAddress,
    '--port',
    String(opts.port),
    '--socket',
    socketPath,
    ...(opts.dataDir ? ['--data-dir', opts.dataDir] : []),
  ];
  const argv = opts.netns !== undefined ? ['ip', 'netns', 'exec', opts.netns, ...args] : args;
  log(`pglite: starting on ${opts.bindAddress}:${opts.port}${opts.netns ? ` in netns ${opts.netns}` : ''}`);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], cwd: process.cwd() });
  child.stderr.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line.trim() !== '') log(`pglite: ${line}`);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new PgLiteError('E_PGLITE_START', `embedded PostgreSQL did not start within ${opts.readyTimeoutMs ?? 60_000} ms`)),
        opts.readyTimeoutMs ?? 60_000,
      );
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('"ready":true')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(new PgLiteError('E_PGLITE_START', `cannot run the embedded PostgreSQL: ${e.message}`));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new PgLiteError('E_PGLITE_START', `embedded PostgreSQL exited (${code ?? signal}) before it was ready; see the log`));
      });
    });
  } catch (err) {
    await terminateChild(child, 5_000);
    rmSync(runDir, { recursive: true, force: true });
    throw err;
  }
  log(`pglite: ready on ${opts.bindAddress}:${opts.port} (pid ${child.pid})`);
  let stopped: Promise<void> | undefined;
  return {
    host: opts.bindAddress,
    port: opts.port,
    socketPath,
    pid: child.pid!,
    database: 'postgres',
    user: 'postgres',
    password: 'postgres',
    stop: () => {
      stopped ??= (async () => {
        await terminateChild(child, 10_000);
        rmSync(runDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
