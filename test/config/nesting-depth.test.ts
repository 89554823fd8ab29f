// Deeply nested input: refused with MG0011 and a file:line:column before any parser recursion, in
// `meshgate validate` and in a running control plane, which keeps serving its last good config.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { defaultMeshConfig } from '../../src/config/default-install.js';
import { formatDiagnostic, type Diagnostic } from '../../src/config/diagnostics.js';
import { DirectorySource } from '../../src/config/directory-source.js';
import { loadConfigPaths, loadConfigText } from '../../src/config/load.js';
import { findExcessiveNesting, MAX_CONFIG_NESTING_DEPTH } from '../../src/config/nesting-depth.js';
import { ConfigStore } from '../../src/config/store.js';
import { repoRoot } from '../repo-root.js';

const here = fileURLToPath(import.meta.url);
const compiled = !here.endsWith('.ts');
const mainJs = path.join(path.dirname(here), '..', '..', 'src', 'cli', 'main.js');

/** Each shape nested `n` levels; the JSON shape is also a JSON patch file when `patch` is set. */
const shapes: Record<string, { file: string; text: (n: number) => string }> = {
  'flow sequence': {
    file: 'flow-seq.yaml',
    text: (n) => `apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ports: ${'['.repeat(n - 2)}${']'.repeat(n - 2)}\n`,
  },
  'flow mapping': { file: 'flow-map.yaml', text: (n) => `${'{a: '.repeat(n)}1${'}'.repeat(n)}\n` },
  'block sequence': { file: 'block-seq.yaml', text: (n) => `${'- '.repeat(n)}1\n` },
  'block mapping': { file: 'block-map.yaml', text: (n) => `${Array.from({ length: n }, (_, i) => `${' '.repeat(i)}a:`).join('\n')} 1\n` },
  'key with its sequence at the same indentation': {
    file: 'key-seq.yaml',
    text: (n) => `${Array.from({ length: n }, (_, i) => (i % 2 === 0 ? `${' '.repeat(i)}a:` : `${' '.repeat(i - 1)}- `)).join('\n')} x\n`,
  },
  'JSON object': { file: 'deep.json', text: (n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}` },
  'JSON patch value': {
    file: 'patch.json',
    text: (n) => `[{"op": "add", "path": "/spec/x", "value": ${'['.repeat(n - 2)}${']'.repeat(n - 2)}}]`,
  },
};

const valueDepth = (v: unknown): number => (v === null || typeof v !== 'object' ? 0 : 1 + Math.max(0, ...Object.values(v).map(valueDepth)));

test('the scan accepts exactly 100 levels and refuses 101, in every shape', async () => {
  const { parseAllDocuments } = await import('yaml');
  for (const [name, s] of Object.entries(shapes)) {
    for (const n of [MAX_CONFIG_NESTING_DEPTH, MAX_CONFIG_NESTING_DEPTH + 1]) {
      const text = s.text(n);
      const depth = valueDepth(parseAllDocuments(text)[0]!.toJS());
      assert.ok(depth >= n - 1 && depth <= n, `${name}: the generator nests ${n} levels (parsed: ${depth})`);
      const refused = findExcessiveNesting(text) !== undefined;
      assert.equal(refused, depth > MAX_CONFIG_NESTING_DEPTH, `${name} at ${depth} levels: ${refused ? 'refused' : 'accepted'}`);
    }
  }
});

test('brackets and quotes inside strings, comments and block scalars do not count as nesting', () => {
  const text = [
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata: {name: "[[[[", namespace: \'{{{{\'}  # [[[[[[',
    'data:',
    `  script: |`,
    `    ${'['.repeat(500)}`,
    `  plain: it's a[0] value ${'{'.repeat(300)}`,
    `  quoted: "${'['.repeat(300)}\\" still quoted ${'{'.repeat(300)}"`,
    '',
  ].join('\n');
  assert.equal(findExcessiveNesting(text), undefined);
  const r = loadConfigText(text, 'cm.yaml');
  assert.deepEqual(
    r.diagnostics.filter((d) => d.code === 'MG0011'),
    [],
  );
});

test('no file of the example labs or the test fixtures comes near the limit', async () => {
  const r = await loadConfigPaths([path.join(repoRoot(), 'examples'), path.join(repoRoot(), 'test', 'model', 'fixtures')]);
  assert.ok(r.objects.length > 10, 'the examples load');
  assert.deepEqual(r.diagnostics.filter((d) => d.code === 'MG0011').map(formatDiagnostic), []);
});

test('a value nested deep only through YAML aliases is refused after parsing', () => {
  const nest = (inner: string): string => `${'['.repeat(25)}${inner}${']'.repeat(25)}`;
  let text = `apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  a0: &a0 ${nest('1')}\n`;
  for (let i = 1; i < 5; i++) text += `  a${i}: &a${i} ${nest(`*a${i - 1}`)}\n`;
  assert.equal(findExcessiveNesting(text), undefined, 'the text itself is shallow');
  const r = loadConfigText(text, 'alias.yaml');
  assert.equal(r.objects.length, 0);
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
    'alias.yaml:1:1: Error [MG0011] spec.a4[0][0][0][0]... (100 levels): document nests deeper than 100 levels once parsed (YAML aliases can nest deeper than the text); refused',
  ]);
});

function validate(file: string): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [mainJs, 'validate', '-f', file], { timeout: 60_000 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number; signal?: string }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, out: stdout + stderr });
    });
  });
}

test(
  'meshgate validate reports MG0011 with file:line:column for 5,000 levels in each shape, and exits 1',
  { skip: compiled ? false : 'runs the compiled CLI (dist/)' },
  async (t) => {
    const dir = await mkdtemp(path.join(tmpdir(), 'meshgate-deep-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    for (const [name, s] of Object.entries(shapes)) {
      if (name === 'block mapping' || name === 'key with its sequence at the same indentation') continue; // 5,000 indented lines are 12 MB: over the file size limit
      const file = path.join(dir, s.file);
      await writeFile(file, s.text(5000));
      const r = await validate(file);
      assert.equal(r.signal, null, `${name}: validate was killed by ${r.signal}`);
      assert.equal(r.code, 1, `${name}: exit code (134 is V8 aborting)\n${r.out}`);
      assert.match(
        r.out,
        new RegExp(`^${file.replace(/[.\\]/g, '\\$&')}:\\d+:\\d+: Error \\[MG0011\\] nesting deeper than 100 levels here`, 'm'),
        `${name}:\n${r.out}`,
      );
    }
    // The same depth in a kustomization: its own scan refuses it (the patch file beside it is fine).
    const k = path.join(dir, 'k');
    await mkdir(k);
    await writeFile(path.join(k, 'svc.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ports: [{port: 1}]\n');
    await writeFile(path.join(k, 'p.json'), '[{"op": "add", "path": "/spec/ports/-", "value": {"port": 2}}]');
    await writeFile(
      path.join(k, 'kustomization.yaml'),
      `patches:\n- path: p.json\n  target: {kind: Service, name: x}\n  x: ${'['.repeat(5000)}${']'.repeat(5000)}\n`,
    );
    const r = await validate(k);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, new RegExp(`kustomization\\.yaml:4:\\d+: Error \\[MG0011\\]`), r.out);
  },
);

test('a watched folder: a good file then a deep edit of it keeps the good objects in force and reports MG0011', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'meshgate-deep-watch-'));
  const store = new ConfigStore(defaultMeshConfig());
  const diags: Diagnostic[] = [];
  const src = new DirectorySource({ dir, store, debounceMs: 40, rescanMs: 300, onDiagnostics: (d) => diags.push(...d) });
  t.after(async () => {
    await src.close();
    await rm(dir, { recursive: true, force: true });
  });
  await writeFile(path.join(dir, 'a.yaml'), 'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n');
  await src.start();
  const version = store.snapshot().version;
  await writeFile(path.join(dir, 'a.yaml'), shapes['flow mapping']!.text(5000));
  await writeFile(path.join(dir, 'b.json'), shapes['JSON object']!.text(5000));
  const deadline = Date.now() + 8000;
  while (Date.now() < deadline && diags.filter((d) => d.code === 'MG0011').length < 2) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(
    diags
      .filter((d) => d.code === 'MG0011')
      .map((d) => `${path.basename(d.file!)}:${d.line}`)
      .sort(),
    ['a.yaml:1', 'b.json:1'],
  );
  assert.deepEqual(
    store.snapshot().serviceAccounts.map((s) => s.metadata.name),
    ['a'],
    'the last good ServiceAccount stays',
  );
  assert.equal(store.snapshot().version, version, 'no new snapshot for refused files');
});

test(
  'meshgate control-plane given a good config then a 5,000-deep file keeps running and logs MG0011',
  { skip: compiled ? false : 'runs the compiled CLI (dist/)', timeout: 90_000 },
  async (t) => {
    const work = await mkdtemp(path.join(tmpdir(), 'meshgate-deep-cp-'));
    t.after(() => rm(work, { recursive: true, force: true }));
    const config = path.join(work, 'config');
    await mkdir(config);
    await writeFile(path.join(config, 'a.yaml'), 'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n');
    const child: ChildProcess = spawn(
      process.execPath,
      [
        mainJs,
        'control-plane',
        '--config',
        config,
        '--cluster-id',
        'c1',
        '--listen',
        '127.0.0.1:0',
        '--http-listen',
        '127.0.0.1:0',
        '--state-dir',
        path.join(work, 'state'),
        '--debounce-ms',
        '20',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let exited: { code: number | null; signal: string | null } | undefined;
    const exit = new Promise<void>((resolve) =>
      child.on('exit', (code, signal) => {
        exited = { code, signal };
        resolve();
      }),
    );
    t.after(async () => {
      if (!exited) {
        child.kill('SIGKILL');
        await exit;
      }
    });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const waitLog = async (what: string, re: RegExp): Promise<void> => {
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && !re.test(stderr) && !exited) await new Promise((r) => setTimeout(r, 50));
      assert.match(stderr, re, `${what}; exited: ${JSON.stringify(exited)}; stderr:\n${stderr}`);
    };
    await waitLog('the control plane serves', /"control plane serving"/);
    await writeFile(path.join(config, 'a.yaml'), `${'['.repeat(5000)}${']'.repeat(5000)}\n`);
    await waitLog('the deep file is reported', /"config invalid; the last valid version stays in force".*a\.yaml:1:\d+: Error \[MG0011\]/);
    await waitLog('the good ServiceAccount is kept', /ServiceAccount\/default\/a is not valid in the new version/);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(exited, undefined, `the control plane must keep running; stderr:\n${stderr}`);
    child.kill('SIGTERM');
    await exit;
    assert.deepEqual(exited, { code: 0, signal: null }, stderr);
  },
);
