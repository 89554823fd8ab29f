// One -o vocabulary (short, wide, json, yaml): every command that prints config or status refuses a
// format it does not support before doing any work, with the same code and the same sentence.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { CliUsageError, parseOutputFormat } from '../../src/cli/output-format.js';
import { meshgateCli, writeFile } from './cli-helpers.js';

test('parseOutputFormat accepts the allowed formats and names them when refusing', () => {
  assert.equal(parseOutputFormat('wide', ['short', 'wide'], 'x'), 'wide');
  assert.throws(
    () => parseOutputFormat('wide', ['short', 'json'], 'x'),
    (e: unknown) =>
      e instanceof CliUsageError &&
      e.code === 'E_CLI_USAGE' &&
      e.message === 'unsupported output format "wide" for "meshgate x": use one of short, json',
  );
  assert.throws(() => parseOutputFormat('text', ['short', 'json'], 'x'), {
    code: 'E_CLI_USAGE',
    message: 'unknown output format "text" for "meshgate x": use one of short, json',
  });
});

test('every command refuses an unknown -o the same way, before touching files, labs or the network', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshgate-output-format-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = writeFile(dir, 'empty.yaml', '');
  const commands: [string, string[], string][] = [
    ['validate', ['validate', '-f', cfg], 'short, json, yaml'],
    ['analyze', ['analyze', '-f', cfg], 'short, json, yaml'],
    ['proxy-config', ['proxy-config', 'all', '127.0.0.1:1'], 'short, json, yaml'],
    ['proxy-status', ['proxy-status', '--control-plane', '127.0.0.1:1'], 'short, wide, json, yaml'],
    ['lab up', ['lab', 'up', path.join(dir, 'no-such-lab')], 'short, json, yaml'],
    ['lab status', ['lab', 'status', '--state-dir', path.join(dir, 'none')], 'short, json, yaml'],
    ['lab verify', ['lab', 'verify', '--state-dir', path.join(dir, 'none')], 'short, json, yaml'],
    ['ca inspect', ['ca', 'inspect', path.join(dir, 'missing.pem')], 'short, json, yaml'],
    ['ca secret', ['ca', 'secret', '--name', 'x', '--cert', path.join(dir, 'missing.pem')], 'yaml, json'],
    ['capture', ['capture', '--dry-run'], 'short, json'],
  ];
  const results = await Promise.all(commands.map(([, args]) => meshgateCli([...args, '-o', 'xml'])));
  commands.forEach(([name, , allowed], i) => {
    const r = results[i]!;
    assert.equal(r.code, 1, `${name}: exit 1`);
    assert.equal(r.stdout, '', `${name}: nothing on stdout`);
    assert.equal(
      r.stderr.split('\n')[0],
      `meshgate: [E_CLI_USAGE] unknown output format "xml" for "meshgate ${name}": use one of ${allowed}`,
      name,
    );
  });
});
