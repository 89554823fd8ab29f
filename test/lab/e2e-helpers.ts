// Shared steps of the lab's end-to-end tests: bring the example up in a temp state dir (torn down by
// t.after even when the test fails), push 10,000 rows through the chain, and small polling helpers.
import assert from 'node:assert/strict';
import type { Runtime } from '../../src/shared/runtime.js';
import { spawnSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { upLab, type RunningLab } from '../../src/lab/lab.js';
import type { LabMode } from '../../src/lab/lab-plan.js';
import { execClientQuery } from '../../src/lab/verify.js';
import { repoRoot } from '../repo-root.js';

export const EXAMPLE = (): string => path.join(repoRoot(), 'examples/mysql-cross-cluster');

export function builtCli(): string | false {
  return existsSync(path.join(repoRoot(), 'dist/src/cli/main.js')) ? false : 'dist/src/cli/main.js is missing: run "npm run build"';
}

type After = { after: (fn: () => Promise<void> | void) => void };

/** The example lab (or a copy with its database swapped) up in `mode`, torn down after the test. */
export async function exampleLab(
  t: After,
  mode: LabMode,
  opts: { database?: 'postgres-embedded'; configSource?: 'directory' | 'kubernetes'; proxyRuntime?: Runtime } = {},
): Promise<RunningLab> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'meshgate-e2e-'));
  let lab: RunningLab | undefined;
  // One hook, in this order: the lab's state file lives in tmp, so tmp goes only after lab down.
  t.after(async () => {
    try {
      if (lab && process.env.MESHGATE_E2E_KEEP_LOGS && existsSync(path.join(lab.stateDir, 'logs')))
        cpSync(path.join(lab.stateDir, 'logs'), path.join(process.env.MESHGATE_E2E_KEEP_LOGS, lab.labId), { recursive: true });
      await lab?.down();
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
  // netns mode's proxies run as uid 1337 and must reach their files under it.
  chmodSync(tmp, 0o755);
  let labDir = EXAMPLE();
  if (opts.database) {
    labDir = path.join(tmp, 'lab');
    cpSync(EXAMPLE(), labDir, { recursive: true });
    const file = path.join(labDir, 'lab.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('builtin: database-server', `builtin: ${opts.database}`));
  }
  const progress: string[] = [];
  try {
    lab = await upLab({
      labFile: labDir,
      mode,
      stateDir: path.join(tmp, 'state'),
      ...(opts.configSource ? { configSource: opts.configSource } : {}),
      ...(opts.proxyRuntime ? { proxyRuntime: opts.proxyRuntime } : {}),
      onProgress: (e) => progress.push(`${e.status} ${e.step} ${e.detail ?? ''}`),
    });
  } catch (err) {
    throw new Error(`lab up failed: ${(err as Error).message}\nprogress:\n  ${progress.join('\n  ')}`, { cause: err });
  }
  return lab;
}

/** Runs SQL in the client pod with the lab's client (mariadb reads it from stdin). */
export const clientSql = execClientQuery;

export function isPostgres(lab: RunningLab): boolean {
  return lab.workloads.some((w) => w.database === 'postgres-embedded');
}

/**
 * Creates a table, inserts 10,000 rows in 10 transactions through the mesh, reads them back and checks
 * count, sum and an MD5 over every value in order against what was sent.
 */
export async function tenThousandRows(lab: RunningLab, table = 'rows_e2e'): Promise<void> {
  const values = Array.from({ length: 10_000 }, (_, i) => `v-${i + 1}-${((i + 1) * 2654435761) % 1_000_003}`);
  const expectedMd5 = createHash('md5').update(values.join(',')).digest('hex');
  const pg = isPostgres(lab);
  const statements = [`CREATE TABLE ${table} (id INT PRIMARY KEY, v VARCHAR(64) NOT NULL)`];
  for (let tx = 0; tx < 10; tx++) {
    const rows = values.slice(tx * 1000, (tx + 1) * 1000).map((v, j) => `(${tx * 1000 + j + 1},'${v}')`);
    statements.push(`${pg ? 'BEGIN' : 'START TRANSACTION'}; INSERT INTO ${table} (id, v) VALUES ${rows.join(',')}; COMMIT`);
  }
  const created = await clientSql(lab, statements, 120_000);
  assert.equal(created.code, 0, `inserting 10,000 rows through the mesh failed: ${created.err}`);
  const check = pg
    ? `SELECT COUNT(*), SUM(id), md5(string_agg(v, ',' ORDER BY id)) FROM ${table}`
    : `SET SESSION group_concat_max_len = 4194304; SELECT COUNT(*), SUM(id), MD5(GROUP_CONCAT(v ORDER BY id SEPARATOR ',')) FROM ${table}`;
  const read = await clientSql(lab, [check], 60_000);
  assert.equal(read.code, 0, `reading the rows back failed: ${read.err}`);
  assert.deepEqual(
    read.out.trim().split(/\s+/),
    ['10000', '50005000', expectedMd5],
    'count, sum of ids and MD5 of the values match what was sent',
  );
}

export async function eventually<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 1000; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

/** Replaces a file the control plane watches in one step (rename), as a Kubernetes update would. */
export function replaceFile(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** `meshgate ...` through the built CLI; throws with its stderr on failure. */
export function meshgate(args: string[], cwd?: string): string {
  const r = spawnSync(process.execPath, [path.join(repoRoot(), 'dist/src/cli/main.js'), ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    cwd,
  });
  if (r.status !== 0) throw new Error(`meshgate ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

export function serialOf(certPemFile: string): string {
  return new X509Certificate(readFileSync(certPemFile)).serialNumber.toLowerCase().replace(/^0+/, '');
}

/** New JSON access-log lines of a proxy since `offset` bytes. */
export function accessLogSince(file: string, offset: number): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  return readFileSync(file)
    .subarray(offset)
    .toString('utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export function sizeOf(file: string): number {
  return existsSync(file) ? readFileSync(file).length : 0;
}
