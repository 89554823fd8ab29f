import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { startPgLite } from '../../src/lab/pglite.js';
import { pidAlive } from '../../src/lab/child-exit.js';

test(
  'runs the embedded PostgreSQL as a process that a real Postgres client reaches over TCP and its unix socket',
  { timeout: 90_000 },
  async (t) => {
    const db = await startPgLite({ bindAddress: '127.0.0.1', port: 25432 + (process.pid % 1000) });
    t.after(() => db.stop());
    assert.ok(pidAlive(db.pid));
    const client = new pg.Client({ host: db.host, port: db.port, user: db.user, password: db.password, database: db.database });
    await client.connect();
    t.after(() => client.end());
    await client.query('CREATE TABLE t (id INT PRIMARY KEY)');
    await client.query('INSERT INTO t SELECT generate_series(1, 100)');
    const r = await client.query<{ s: string }>('SELECT SUM(id)::text AS s FROM t');
    assert.equal(r.rows[0]?.s, '5050');
    await client.end();
    const admin = new pg.Client({ host: path.dirname(db.socketPath), port: db.port, user: db.user, database: db.database });
    await admin.connect();
    const c = await admin.query<{ n: string }>('SELECT COUNT(*)::text AS n FROM t');
    await admin.end();
    assert.equal(c.rows[0]?.n, '100');
    await db.stop();
    assert.equal(pidAlive(db.pid), false, 'the embedded server has exited');
    assert.equal(existsSync(path.dirname(db.socketPath)), false, 'its temp dir is removed');
  },
);
