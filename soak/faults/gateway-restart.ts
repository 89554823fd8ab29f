// Fault: a gateway killed (SIGKILL, the crash case) and started again. In-flight connections through it
// must end with a reset or close — promptly, never a hang — and new connections must succeed once it is
// back. With MariaDB installed, a client runs transactions through the chain meanwhile, retrying each
// whose outcome it could not see; every one must be committed exactly once (row count and ids match).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mariaDbAvailable, startMariaDb } from '../../src/lab/mariadb.js';
import { HeldConnections } from '../held-connections.js';
import { PATH_NAMES, type SoakChain } from '../lab-chain.js';
import type { SoakReport } from '../results.js';

const execFileP = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** In-flight connections must be gone this long after the gateway dies (the client sidecar sees the upstream reset at once). */
const END_WITHIN_MS = 10_000;

export async function gatewayKilled(report: SoakReport, chain: SoakChain, which: 1 | 2, connections: number): Promise<void> {
  const name = PATH_NAMES[which];
  await report.check(
    `fault: ${name} killed and restarted`,
    'in-flight connections end with a reset or close within 10 s (no hang); new connections succeed once it is back',
    async () => {
      const held = new HeldConnections(chain.target);
      try {
        const opened = await held.open(connections, { concurrency: 32 });
        if (opened.failed > 0) throw new Error(`could not open the connections to hold: ${held.openErrors.join('; ')}`);
        const killedAt = Date.now();
        chain.killProxy(which);
        const deadline = killedAt + END_WITHIN_MS;
        while (held.size > 0 && Date.now() < deadline) await sleep(100);
        const hung = held.size;
        const endings = held.endings();
        const slowest = Math.max(0, ...held.all().map((c) => (c.endedAt ?? killedAt) - killedAt));
        await chain.restartProxy(which);
        // "Back" as Istio's users judge it: ready, and in sync with its control plane (secrets included).
        await chain.waitSynced(60_000);
        const fresh = new HeldConnections(chain.target);
        const freshOpened = await fresh.open(20, { concurrency: 4 });
        await fresh.closeAll();
        report.bytesSent += fresh.bytesSent;
        const detail = `${connections} in flight: ${JSON.stringify(endings)} within ${slowest} ms, ${hung} still open after ${END_WITHIN_MS} ms; after restart ${freshOpened.opened}/20 new connections echoed intact`;
        if (hung > 0 || freshOpened.opened !== 20)
          throw new Error(`${detail}${fresh.openErrors.length ? `; ${fresh.openErrors.join('; ')}` : ''}`);
        return detail;
      } finally {
        await held.closeAll();
      }
    },
  );
}

interface Target {
  host: string;
  port: number;
}

async function sql(t: Target, statement: string, timeoutS = 5): Promise<string> {
  const { stdout } = await execFileP(
    'mariadb',
    [
      '--protocol=TCP',
      '-h',
      t.host,
      '-P',
      String(t.port),
      '-umeshgate',
      '-pmeshgate',
      '--skip-ssl',
      `--connect-timeout=${timeoutS}`,
      '-N',
      '-B',
      '-e',
      statement,
      'sbtest',
    ],
    { timeout: (timeoutS + 10) * 1000 },
  );
  return stdout.trim();
}

/**
 * Transactions through the chain while the egress gateway is killed and restarted: each inserts its own
 * id (primary key) in a transaction; a failed attempt is retried until it is known committed (a retry of
 * a committed one hits the key and is counted as already done, which is the exactly-once check's job).
 */
export async function transactionsAcrossGatewayRestart(
  report: SoakReport,
  chain: SoakChain,
  transactions: number,
  log: (line: string) => void,
): Promise<void> {
  const avail = mariaDbAvailable();
  if (!avail.ok) {
    log(`MariaDB transactions skipped: ${avail.reason} (${avail.install})`);
    return;
  }
  await report.check(
    'fault: egress gateway restart during MariaDB transactions',
    `${transactions} transactions, each retried until its outcome is known, are committed exactly once (row count and ids match)`,
    async () => {
      const backend = chain.chain.backend;
      await chain.echo.stop();
      const db = await startMariaDb({ bindAddress: backend.host, port: backend.port });
      try {
        const direct = { host: backend.host, port: backend.port };
        await sql(direct, 'DROP TABLE IF EXISTS soak_tx; CREATE TABLE soak_tx (id INT PRIMARY KEY, attempt INT NOT NULL) ENGINE=InnoDB');
        let retries = 0;
        let duplicates = 0;
        let killed = false;
        const committed = new Set<number>();
        const failures: string[] = [];
        for (let id = 1; id <= transactions; id++) {
          if (!killed && id === Math.floor(transactions / 3)) {
            killed = true;
            chain.killProxy(1);
            // Restart in the background: the loop meanwhile sees failures and retries.
            void sleep(2000)
              .then(() => chain.restartProxy(1))
              .catch((err: unknown) => failures.push(`restart: ${(err as Error).message}`));
          }
          const deadline = Date.now() + 60_000;
          for (let attempt = 1; ; attempt++) {
            try {
              await sql(chain.target, `START TRANSACTION; INSERT INTO soak_tx (id, attempt) VALUES (${id}, ${attempt}); COMMIT;`);
              committed.add(id);
              break;
            } catch (err) {
              const msg = (err as { stderr?: string; message: string }).stderr ?? (err as Error).message;
              if (/Duplicate entry/.test(msg)) {
                // The earlier attempt committed but its answer was lost: done, exactly once.
                duplicates++;
                committed.add(id);
                break;
              }
              retries++;
              if (Date.now() > deadline) {
                failures.push(`transaction ${id} not committed within 60 s: ${msg.trim().split('\n')[0]}`);
                break;
              }
              await sleep(250);
            }
          }
          if (failures.length > 3) break;
        }
        // Wait for the restarted gateway before counting (the background restart may still be running).
        await chain.waitSynced(60_000).catch((err: unknown) => failures.push((err as Error).message));
        const count = Number(await sql(direct, 'SELECT COUNT(*) FROM soak_tx'));
        const distinct = Number(await sql(direct, 'SELECT COUNT(DISTINCT id) FROM soak_tx'));
        const maxId = Number(await sql(direct, 'SELECT COALESCE(MAX(id),0) FROM soak_tx'));
        const detail = `${committed.size}/${transactions} committed, ${retries} retried attempts, ${duplicates} already-committed on retry; rows ${count}, distinct ids ${distinct}, max id ${maxId}`;
        if (
          failures.length > 0 ||
          count !== transactions ||
          distinct !== transactions ||
          maxId !== transactions ||
          committed.size !== transactions
        )
          throw new Error(`${detail}; ${failures.join('; ')}`);
        return detail;
      } finally {
        await db.stop();
        // Put the echo backend back for the faults that follow.
        await chain.restartEcho();
      }
    },
  );
}
