import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { parseSoakArgs } from '../../soak/options.js';

test('soak options parse through commander: --flag=value works, unknown options and stray words are usage errors', () => {
  const o = parseSoakArgs(['--quick', '--fuzz-cases=5', '--only=tls,xds', '--out', 'x.json']);
  assert.equal(o.connections, 300);
  assert.equal(o.fuzzCases, 5);
  assert.deepEqual(o.phases, ['tls', 'xds']);
  assert.equal(o.out, path.resolve('x.json'));
  assert.throws(() => parseSoakArgs(['--bogus']), { code: 'E_SOAK_USAGE', message: /unknown option '--bogus'\nusage: npm run soak --/ });
  assert.throws(() => parseSoakArgs(['quick']), { code: 'E_SOAK_USAGE', message: /too many arguments/ });
  assert.throws(() => parseSoakArgs(['--connections']), { code: 'E_SOAK_USAGE', message: /argument missing/ });
  assert.throws(() => parseSoakArgs(['--out', '']), { message: '--out needs a file name' });
});

test('soak --help is a usage error carrying every option with its help', () => {
  assert.throws(
    () => parseSoakArgs(['--help']),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'E_SOAK_USAGE');
      assert.match(err.message, /^usage: npm run soak -- \[--quick\]/);
      assert.match(err.message, /--connections <n>\s+long-lived connections through the chain \(default 5000,\s+quick 300\)/);
      for (const flag of ['--quick', '--only <list>', '--fuzz-cases <n>', '--out <file>']) assert.ok(err.message.includes(flag), flag);
      return true;
    },
  );
});
