// End to end with the embedded database (what `npm start` runs on a machine without MariaDB): the
// same 10,000-row flow with a real Postgres client, and `lab verify`, in loopback mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyLab } from '../../src/lab/verify.js';
import { builtCli, exampleLab, isPostgres, tenThousandRows } from './e2e-helpers.js';

test('loopback lab with the embedded PostgreSQL: 10,000 rows and lab verify', { skip: builtCli(), timeout: 180_000 }, async (t) => {
  const lab = await exampleLab(t, 'loopback', { database: 'postgres-embedded' });
  assert.ok(isPostgres(lab));
  await tenThousandRows(lab);
  const report = await verifyLab(lab);
  assert.equal(report.passed, true, `verify failed:\n  ${report.failures.join('\n  ')}`);
});
