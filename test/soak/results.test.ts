// A check that did not run never passes (issue 14, item 10): it is recorded as `skipped` with its reason,
// serialised with that status and `passed: false`, counted apart in the table's summary, and does not
// fail the run on its own; `npm audit` against a registry that cannot answer is such a check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { CheckSkipped, SoakReport, renderTable } from '../../soak/results.js';
import { npmAudit } from '../../soak/security.js';

test('a skipped check serialises as skipped with passed false, is not counted as passed, and alone does not fail the run', async () => {
  const r = new SoakReport(true);
  r.fault({ name: 'ran', expectation: 'e', passed: true, detail: 'ok' });
  r.skip('could not run', 'e', 'not run: no registry');
  assert.equal(await r.check('threw CheckSkipped', 'e', () => Promise.reject(new CheckSkipped('not run: no tool'))), false);
  const j = r.toJson(new Date('2026-01-02T03:04:05Z'));
  assert.deepEqual(j.faults, [
    { name: 'ran', expectation: 'e', status: 'passed', passed: true, detail: 'ok' },
    { name: 'could not run', expectation: 'e', status: 'skipped', passed: false, detail: 'not run: no registry' },
    { name: 'threw CheckSkipped', expectation: 'e', status: 'skipped', passed: false, detail: 'not run: no tool' },
  ]);
  assert.equal(r.passed(), true, 'skipped checks alone do not fail the run');
  const table = renderTable(j);
  assert.match(table, /faults survived\s+1\/3, 2 skipped/);
  assert.match(table, /could not run\s+skip\s+not run: no registry/);
  r.fault({ name: 'broke', expectation: 'e', passed: false, detail: 'x' });
  assert.equal(r.passed(), false, 'a failed check fails the run');
  assert.match(renderTable(r.toJson()), /faults survived\s+1\/4, 2 skipped/);
});

test('the summary has no skipped count when nothing was skipped', () => {
  const r = new SoakReport(false);
  r.fault({ name: 'a', expectation: 'e', passed: true, detail: '' });
  r.fault({ name: 'b', expectation: 'e', passed: false, detail: '' });
  const table = renderTable(r.toJson());
  assert.match(table, /faults survived\s+1\/2$/m);
  assert.match(table, /b\s+FAIL/);
});

test(
  'npm audit against a registry that refuses the connection is skipped with the reason, never passed',
  { timeout: 120_000 },
  async () => {
    // A port that was free a moment ago and is closed now: the registry cannot answer.
    const srv = net.createServer();
    await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((res) => srv.close(() => res()));
    const audit = await npmAudit({ ...process.env, npm_config_registry: `http://127.0.0.1:${port}/`, npm_config_fetch_retries: '0' });
    assert.equal(audit.status, 'skipped', audit.detail);
    assert.match(audit.detail, /^not run: /);
    assert.match(audit.detail, new RegExp(`127\\.0\\.0\\.1:${port}`));
  },
);
