// A throwaway MariaDB server for the lab and the benchmark: its own datadir (temporary unless given),
// `mariadbd --no-defaults` so no system option file leaks in, database `sbtest` and user
// `meshgate`/`meshgate` allowed from any host. Optionally inside a network namespace the lab made.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, chownSync, constants, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { terminateChild, waitForExit } from './child-exit.js';

export class MariaDbError extends Error {
  constructor(
    readonly code: 'E_MARIADB_MISSING' | 'E_MARIADB_INIT' | 'E_MARIADB_START' | 'E_MARIADB_SQL',
    message: string,
  ) {
    super(message);
    this.name = 'MariaDbError';
  }
}

export interface MariaDbOptions {
  bindAddress: string;
  port: number;
  /** Data directory; a temporary one (removed on stop) when absent. Initialised when empty. */
  dataDir?: string;
  /** Network namespace (made by the lab) to run the server in. */
  netns?: string;
  /** OS user mariadbd runs as when started by root (default `mysql` if it exists, else root). */
  user?: string;
  log?: (line: string) => void;
  /** How long to wait for the server to accept queries (default 60 s). */
  readyTimeoutMs?: number;
}

export interface RunningMariaDb {
  host: string;
  port: number;
  socketPath: string;
  pid: number;
  /** The database and account the lab's clients use. */
  database: 'sbtest';
  user: 'meshgate';
  password: 'meshgate';
  stop(): Promise<void>;
}

const SEARCH_DIRS = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', '/usr/local/mysql/bin'];
export const MARIADB_INSTALL_HINT = 'apt-get install mariadb-server mariadb-client';

/** Finds an executable in PATH and the usual sbin folders (mariadbd lives in /usr/sbin, often not in a user's PATH). */
export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...SEARCH_DIRS];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here or not executable: try the next folder.
    }
  }
  return undefined;
}

/** Whether the MariaDB server, its installer and client are installed, and how to install them if not. */
export function mariaDbAvailable(): { ok: boolean; reason?: string; install?: string } {
  const missing = ['mariadbd', 'mariadb-install-db', 'mariadb'].filter((n) => findExecutable(n) === undefined);
  if (missing.length === 0) return { ok: true };
  return { ok: false, reason: `not found: ${missing.join(', ')}`, install: MARIADB_INSTALL_HINT };
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function defaultUser(): string | undefined {
  if (!isRoot()) return undefined;
  const r = spawnSync('id', ['-u', 'mysql'], { encoding: 'utf8' });
  return r.status === 0 ? 'mysql' : 'root';
}

function userIds(user: string): { uid: number; gid: number } | undefined {
  const u = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', user], { encoding: 'utf8' });
  if (u.status !== 0 || g.status !== 0) return undefined;
  return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
}

function requireExecutable(name: string): string {
  const p = findExecutable(name);
  if (p === undefined) throw new MariaDbError('E_MARIADB_MISSING', `${name} is not installed (${MARIADB_INSTALL_HINT})`);
  return p;
}

/** Runs SQL as root over the server's unix socket with the unmodified `mariadb` client. */
export function runMariaDbSql(socketPath: string, sql: string, timeoutMs = 30_000): Promise<string> {
  const client = requireExecutable('mariadb');
  return new Promise((resolve, reject) => {
    const child = spawn(client, ['--no-defaults', `--socket=${socketPath}`, '-uroot', '--batch', '--skip-column-names', '-e', sql], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new MariaDbError('E_MARIADB_SQL', `mariadb client failed to start: ${e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new MariaDbError('E_MARIADB_SQL', `mariadb client exited ${code}: ${err.trim()}`));
    });
  });
}

function wrapWithNetns(netns: string | undefined, argv: string[]): string[] {
  return netns === undefined ? argv : ['ip', 'netns', 'exec', netns, ...argv];
}

export async function startMariaDb(opts: MariaDbOptions): Promise<RunningMariaDb> {
  const log = opts.log ?? ((): void => undefined);
  const mariadbd = requireExecutable('mariadbd');
  const installDb = requireExecutable('mariadb-install-db');
  requireExecutable('mariadb');
  const user = opts.user ?? defaultUser();
  const ownedTemp = opts.dataDir === undefined;
  // The socket lives beside the datadir, not in it, so its path stays short (108-byte sun_path limit).
  const base = ownedTemp ? mkdtempSync(path.join(os.tmpdir(), 'meshgate-mariadb-')) : undefined;
  const dataDir = base !== undefined ? path.join(base, 'data') : path.resolve(opts.dataDir!);
  const runDir = base ?? mkdtempSync(path.join(os.tmpdir(), 'meshgate-mariadb-run-'));
  const socketPath = path.join(runDir, 'mariadb.sock');
  // Each server gets its own temporary directory: servers sharing /tmp (tests run several at once, and in
  // PID namespaces their pids can repeat) collide on mariadbd's internal temporary table names.
  const tmpDir = path.join(runDir, 'tmp');
  const removeTemp = (): void => {
    if (base !== undefined) rmSync(base, { recursive: true, force: true });
    else rmSync(runDir, { recursive: true, force: true });
  };

  let child: ChildProcess | undefined;
  try {
    mkdirSync(dataDir, { recursive: true });
    mkdirSync(tmpDir, { mode: 0o700 });
    const ids = user !== undefined && user !== 'root' ? userIds(user) : undefined;
    if (ids !== undefined) {
      // mariadbd drops to `user` and must own its datadir and be able to create its socket.
      chownSync(runDir, ids.uid, ids.gid);
      chownSync(dataDir, ids.uid, ids.gid);
      chownSync(tmpDir, ids.uid, ids.gid);
    }
    if (!existsSync(path.join(dataDir, 'mysql'))) {
      log(`mariadb: initialising datadir ${dataDir}`);
      const init = spawnSync(
        installDb,
        [
          '--no-defaults',
          '--auth-root-authentication-method=normal',
          '--skip-test-db',
          `--datadir=${dataDir}`,
          `--tmpdir=${tmpDir}`,
          ...(user !== undefined ? [`--user=${user}`] : []),
        ],
        { encoding: 'utf8', timeout: 120_000 },
      );
      if (init.status !== 0) {
        throw new MariaDbError(
          'E_MARIADB_INIT',
          `mariadb-install-db failed (exit ${init.status ?? init.signal}): ${(init.stderr || init.stdout).trim().slice(-2000)}`,
        );
      }
    }
    const argv = wrapWithNetns(opts.netns, [
      mariadbd,
      '--no-defaults',
      `--datadir=${dataDir}`,
      `--socket=${socketPath}`,
      `--tmpdir=${tmpDir}`,
      `--pid-file=${path.join(runDir, 'mariadb.pid')}`,
      `--port=${opts.port}`,
      `--bind-address=${opts.bindAddress}`,
      '--skip-name-resolve',
      '--skip-log-bin',
      '--innodb-buffer-pool-size=64M',
      '--max-connections=500',
      ...(user !== undefined ? [`--user=${user}`] : []),
    ]);
    log(`mariadb: starting ${argv.join(' ')}`);
    const started = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    const lines = (d: Buffer): void => {
      for (const line of d.toString().split('\n')) if (line.trim() !== '') log(`mariadb: ${line}`);
    };
    started.stdout!.on('data', lines);
    started.stderr!.on('data', lines);
    const spawnError = new Promise<never>((_, reject) =>
      started.once('error', (e) => reject(new MariaDbError('E_MARIADB_START', `cannot run mariadbd: ${e.message}`))),
    );
    spawnError.catch(() => undefined); // observed below through Promise.race; this keeps it from being unhandled

    const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
    let lastError = '';
    for (;;) {
      if (started.exitCode !== null || started.signalCode !== null) {
        throw new MariaDbError(
          'E_MARIADB_START',
          `mariadbd exited (${started.exitCode ?? started.signalCode}) before accepting queries; see the log above`,
        );
      }
      if (Date.now() > deadline)
        throw new MariaDbError(
          'E_MARIADB_START',
          `mariadbd did not accept queries within ${opts.readyTimeoutMs ?? 60_000} ms: ${lastError}`,
        );
      if (existsSync(socketPath)) {
        try {
          await Promise.race([runMariaDbSql(socketPath, 'SELECT 1', 5_000), spawnError]);
          break;
        } catch (err) {
          if ((err as MariaDbError).code !== 'E_MARIADB_SQL') throw err;
          lastError = (err as Error).message;
        }
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    await runMariaDbSql(
      socketPath,
      "CREATE DATABASE IF NOT EXISTS sbtest; CREATE USER IF NOT EXISTS 'meshgate'@'%' IDENTIFIED BY 'meshgate'; GRANT ALL PRIVILEGES ON *.* TO 'meshgate'@'%'; FLUSH PRIVILEGES;",
    );
    log(`mariadb: ready on ${opts.bindAddress}:${opts.port}${opts.netns ? ` in netns ${opts.netns}` : ''} (pid ${started.pid})`);
    let stopped: Promise<void> | undefined;
    return {
      host: opts.bindAddress,
      port: opts.port,
      socketPath,
      pid: started.pid!,
      database: 'sbtest',
      user: 'meshgate',
      password: 'meshgate',
      stop: () => {
        stopped ??= (async () => {
          await terminateChild(started, 20_000);
          removeTemp();
        })();
        return stopped;
      },
    };
  } catch (err) {
    if (child !== undefined) {
      await terminateChild(child, 10_000);
      await waitForExit(child, 1_000);
    }
    removeTemp();
    throw err;
  }
}
