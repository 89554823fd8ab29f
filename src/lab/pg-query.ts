// The lab's Postgres client when MariaDB is not installed: node-postgres (a real wire-protocol client)
// running SQL given on the command line, printing rows tab-separated like `mariadb --batch`.
// Usage: pg-query.js --host H --port P [--user U] [--database D] --sql "..." [--sql "..."]
import { parseArgs } from 'node:util';
import pg from 'pg';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string' },
      port: { type: 'string', default: '5432' },
      user: { type: 'string', default: 'postgres' },
      password: { type: 'string', default: 'postgres' },
      database: { type: 'string', default: 'postgres' },
      sql: { type: 'string', multiple: true, default: [] },
    },
  });
  const client = new pg.Client({
    host: values.host,
    port: Number(values.port),
    user: values.user,
    password: values.password,
    database: values.database,
    connectionTimeoutMillis: 15_000,
  });
  await client.connect();
  try {
    for (const sql of values.sql) {
      const r = await client.query({ text: sql, rowMode: 'array' });
      const results = Array.isArray(r) ? (r as pg.QueryResult<unknown[]>[]) : [r as pg.QueryResult<unknown[]>];
      for (const res of results)
        for (const row of res.rows ?? []) process.stdout.write(`${row.map((v) => (v === null ? 'NULL' : String(v))).join('\t')}\n`);
    }
  } finally {
    await client.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`pg-query: ${(err as Error).message}\n`);
  process.exit(1);
});
