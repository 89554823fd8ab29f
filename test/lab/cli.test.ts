import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './repo-root.js';
import { builtCli } from './e2e-helpers.js';

const cli = (args: string[]): { status: number | null; stdout: string; stderr: string } =>
  spawnSync(process.execPath, [path.join(repoRoot(), 'dist/src/cli/main.js'), ...args], { encoding: 'utf8', timeout: 60_000 });

test('lab up refuses an invalid lab file with its file, line and field, and exits non-zero', { skip: builtCli() }, (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-lab-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'lab.yaml'), 'clusters:\n  - name: a\n    trustDomian: x\n');
  const r = cli(['lab', 'up', dir, '--mode', 'loopback', '--state-dir', path.join(dir, 'state')]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /\[E_LAB_FILE\] .*lab\.yaml:2: clusters\.0: .*trustDomian/);
});

test('lab status and lab down say clearly when there is no lab in the state dir', { skip: builtCli() }, (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-lab-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const sub of ['status', 'down']) {
    const r = cli(['lab', sub, '--state-dir', dir]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /\[E_LAB_STATE\] no lab state in/);
  }
  const bad = cli(['lab', 'up', dir, '--mode', 'sideways']);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--mode must be netns or loopback/);
});
