import assert from 'node:assert/strict';
import { test } from 'node:test';
import { helpText, parseArgs } from '../../bench/run-config.js';

test('bench options parse through commander: --flag=value works, unknown options and stray words are usage errors', () => {
  const c = parseArgs(
    ['--repeats=2', '--only', 'churn,idle', '--chains=meshgate,direct', '--cp-size', '10,20', '--results-dir', '/tmp/r'],
    '/default',
  );
  assert.equal(c.repeats, 2);
  assert.deepEqual(c.loads, ['churn', 'idle']);
  assert.deepEqual(c.chains, ['meshgate', 'direct']);
  assert.deepEqual(c.controlPlane, { services: 10, clients: 20 });
  assert.equal(c.resultsDir, '/tmp/r');
  assert.equal(parseArgs([], '/default').resultsDir, '/default');
  assert.equal(parseArgs(['--quick'], '/d').repeats, 1);
  assert.throws(() => parseArgs(['--bogus'], '/d'), {
    code: 'E_BENCH_USAGE',
    message: /unknown option '--bogus'\nusage: npm run bench --/,
  });
  assert.throws(() => parseArgs(['quick'], '/d'), { code: 'E_BENCH_USAGE', message: /too many arguments/ });
  assert.throws(() => parseArgs(['--repeats'], '/d'), { code: 'E_BENCH_USAGE', message: /argument missing/ });
  assert.throws(() => parseArgs(['--repeats', '21'], '/d'), { message: '--repeats must be an integer from 1 to 20' });
  assert.throws(() => parseArgs(['--cp-size', '10'], '/d'), { message: /SERVICES,CLIENTS/ });
  assert.throws(() => parseArgs(['--chains', 'envoy'], '/d'), { message: '--chains: unknown chain "envoy"' });
});

test('bench --help shows the usage line and every option with its help', () => {
  const help = helpText();
  assert.match(help, /^usage: npm run bench -- \[--quick\] \[--repeats N\]/);
  for (const flag of [
    '--quick',
    '--repeats <n>',
    '--only <loads>',
    '--chains <chains>',
    '--cp-size <services,clients>',
    '--results-dir <dir>',
  ])
    assert.ok(help.includes(flag), `${flag} in\n${help}`);
  assert.match(help, /--only <loads>\s+only these loads, comma-separated:\s+sysbench,rotation,bulk,churn,idle,controlplane/);
});
