// `npm run bench -- --runtimes node,bun`: the meshgate chain measured under each runtime is summarised
// as its own column beside HAProxy, with its own ratio to HAProxy, and a figure missing under one
// runtime is named with it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { missingFigures, renderTable, summarize, type Sample } from '../../bench/results.js';
import { figureSpecs, parseArgs } from '../../bench/run-config.js';

test('--runtimes parses node and bun, defaults to node, and refuses another', () => {
  assert.deepEqual(parseArgs([], '/d').runtimes, ['node']);
  assert.deepEqual(parseArgs(['--runtimes', 'node,bun'], '/d').runtimes, ['node', 'bun']);
  assert.deepEqual(parseArgs(['--runtimes=bun'], '/d').runtimes, ['bun']);
  assert.throws(() => parseArgs(['--runtimes', 'node,deno'], '/d'), { code: 'E_BENCH_USAGE', message: /unknown runtime "deno"/ });
});

test('the meshgate chain under Bun gets its own median, ratio to HAProxy and table column', () => {
  const config = parseArgs(['--only', 'churn', '--runtimes', 'node,bun'], '/d');
  const specs = figureSpecs(config).filter((s) => s.name === 'churn_conns_per_s' || s.name === 'churn_cpu_ms_per_conn');
  const samples: Sample[] = [
    ...[200, 220, 210].map((value, repeat) => ({ figure: 'churn_conns_per_s', chain: 'meshgate' as const, repeat, value })),
    ...[300, 280, 320].map((value, repeat) => ({ figure: 'churn_conns_per_s', chain: 'meshgate-bun' as const, repeat, value })),
    ...[400, 400, 400].map((value, repeat) => ({ figure: 'churn_conns_per_s', chain: 'haproxy' as const, repeat, value })),
    { figure: 'churn_cpu_ms_per_conn', chain: 'meshgate', repeat: 0, value: 2 },
    { figure: 'churn_cpu_ms_per_conn', chain: 'haproxy', repeat: 0, value: 1 },
  ];
  const figures = summarize(specs, samples);
  const churn = figures.find((f) => f.name === 'churn_conns_per_s')!;
  assert.equal(churn.meshgate, 210);
  assert.equal(churn.meshgateBun, 300);
  assert.equal(churn.ratio, 0.525);
  assert.equal(churn.ratioBun, 0.75);
  const cpu = figures.find((f) => f.name === 'churn_cpu_ms_per_conn')!;
  assert.equal(cpu.meshgateBun, null);
  assert.deepEqual(missingFigures(specs, figures, ['meshgate', 'haproxy'], ['node', 'bun']), [
    'churn_cpu_ms_per_conn (meshgate under bun)',
  ]);
  assert.deepEqual(missingFigures(specs, figures, ['meshgate', 'haproxy'], ['node']), [], 'Bun is checked only when it ran');
  const table = renderTable(specs, figures, samples);
  assert.match(table, /meshgate node \| meshgate bun \| HAProxy/);
  assert.match(table, /new connections.*\|\s+210 \|\s+300 \|\s+400 \|\s+- \|\s+0\.53× \|\s+0\.75× \|/);
});

test('a run without Bun keeps the figures and the table as they were', () => {
  const specs = figureSpecs(parseArgs(['--only', 'churn'], '/d')).filter((s) => s.name === 'churn_conns_per_s');
  const figures = summarize(specs, [{ figure: 'churn_conns_per_s', chain: 'meshgate', repeat: 0, value: 1 }]);
  assert.equal('meshgateBun' in figures[0]!, false);
  assert.doesNotMatch(renderTable(specs, figures, []), /bun/);
});
