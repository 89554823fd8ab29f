// A built-in workload as its own process (started by the lab inside the pod's namespace): runs the
// database until SIGTERM, then stops it and removes its temporary data. Writes `{"pid","host","port",
// "socketPath","kind"}` to --ready-file once the database accepts queries, so the lab can record the
// database's own pid too.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { mariaDbAvailable, startMariaDb } from './mariadb.js';
import { startPgLite } from './pglite.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      builtin: { type: 'string' },
      bind: { type: 'string', default: '0.0.0.0' },
      port: { type: 'string' },
      'ready-file': { type: 'string' },
    },
  });
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  let kind = values.builtin;
  if (kind === 'database-server') kind = mariaDbAvailable().ok ? 'mariadb-server' : 'postgres-embedded';
  const common = { bindAddress: values.bind, port: Number(values.port), log };
  const db = kind === 'mariadb-server' ? await startMariaDb(common) : kind === 'postgres-embedded' ? await startPgLite(common) : undefined;
  if (!db) throw new Error(`unknown built-in workload "${values.builtin}" (mariadb-server, postgres-embedded, database-server)`);
  if (values['ready-file'])
    writeFileSync(values['ready-file'], JSON.stringify({ kind, pid: db.pid, host: db.host, port: db.port, socketPath: db.socketPath }));
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await db.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

main().catch((err: unknown) => {
  process.stderr.write(`workload-runner: [${(err as { code?: string }).code ?? 'E_WORKLOAD'}] ${(err as Error).message}\n`);
  process.exit(1);
});
