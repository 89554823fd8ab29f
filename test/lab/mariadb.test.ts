import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { mariaDbAvailable, runMariaDbSql, startMariaDb } from '../../src/lab/mariadb.js';
import { pidAlive } from '../../src/lab/child-exit.js';

const available = mariaDbAvailable();
const skip = available.ok ? false : `MariaDB not installed (${available.install})`;

test('mariaDbAvailable reports what is missing and how to install it', () => {
  const r = mariaDbAvailable();
  if (r.ok) assert.equal(r.reason, undefined);
  else {
    assert.match(r.reason ?? '', /not found/);
    assert.match(r.install ?? '', /mariadb-server/);
  }
});

test(
  'starts a throwaway MariaDB that accepts the meshgate user over TCP, and removes it on stop',
  { skip, timeout: 120_000 },
  async (t) => {
    const db = await startMariaDb({ bindAddress: '127.0.0.1', port: 23306 + (process.pid % 1000) });
    t.after(() => db.stop());
    assert.ok(pidAlive(db.pid), 'mariadbd runs');
    // The unmodified client, over TCP, as the lab's client workload connects.
    const r = spawnSync(
      'mariadb',
      [
        '--no-defaults',
        '-h',
        db.host,
        '-P',
        String(db.port),
        '-u',
        'meshgate',
        '-pmeshgate',
        'sbtest',
        '--batch',
        '--skip-column-names',
        '-e',
        'CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1),(2),(3); SELECT SUM(id) FROM t;',
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '6');
    assert.equal((await runMariaDbSql(db.socketPath, 'SELECT COUNT(*) FROM sbtest.t')).trim(), '3');
    const socketDir = db.socketPath.replace(/\/[^/]+$/, '');
    await db.stop();
    assert.equal(pidAlive(db.pid), false, 'mariadbd has exited');
    assert.equal(existsSync(socketDir), false, 'the temporary datadir is removed');
  },
);
