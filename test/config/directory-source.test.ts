import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { defaultInstallResult, defaultMeshConfig } from '../../src/config/default-install.js';
import type { Diagnostic } from '../../src/config/diagnostics.js';
import { DirectorySource } from '../../src/config/directory-source.js';
import { ConfigStore } from '../../src/config/store.js';

const mesh = defaultMeshConfig();
const sa = (name: string, v = 'a') => `apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ${name}\n  labels: {v: "${v}"}\n`;

/** Polls `cond` every 20 ms for at most `ms`; fails with `what` if it never holds. */
async function waitFor(what: string, cond: () => boolean, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out waiting for ${what}`);
}

async function setup(t: { after: (fn: () => Promise<void>) => void }, timing = { debounceMs: 40, rescanMs: 300 }) {
  const dir = await mkdtemp(path.join(tmpdir(), 'meshgate-watch-'));
  const store = new ConfigStore(mesh);
  const diags: Diagnostic[] = [];
  const src = new DirectorySource({ dir, store, ...timing, onDiagnostics: (d) => diags.push(...d) });
  t.after(async () => {
    await src.close();
    await rm(dir, { recursive: true, force: true });
  });
  const names = () => store.snapshot().serviceAccounts.map((s) => `${s.metadata.name}:${s.metadata.labels?.v ?? ''}`);
  return { dir, store, diags, src, names };
}

test('watches a directory: add, change, delete, new sub-folder', async (t) => {
  const { dir, src, names } = await setup(t);
  await writeFile(path.join(dir, 'a.yaml'), sa('a'));
  await src.start();
  assert.deepEqual(names(), ['a:a'], 'start() loads what is there');
  await writeFile(path.join(dir, 'b.yml'), sa('b'));
  await waitFor('b added', () => names().includes('b:a'));
  await writeFile(path.join(dir, 'a.yaml'), sa('a', 'changed'));
  await waitFor('a changed', () => names().includes('a:changed'));
  await unlink(path.join(dir, 'b.yml'));
  await waitFor('b deleted', () => !names().some((n) => n.startsWith('b:')));
  await mkdir(path.join(dir, 'nested'));
  await writeFile(
    path.join(dir, 'nested', 'c.json'),
    JSON.stringify({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'c' } }),
  );
  await waitFor('nested c added', () => names().includes('c:'));
  assert.deepEqual(names().sort(), ['a:changed', 'c:']);
});

test('a bad edit is reported and the last good object stays in force', async (t) => {
  const { dir, src, names, diags, store } = await setup(t);
  await writeFile(path.join(dir, 'a.yaml'), sa('a'));
  await src.start();
  const before = store.snapshot().version;
  await writeFile(path.join(dir, 'a.yaml'), 'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n  labels: {v: [1]}\n');
  await waitFor('the bad edit to be reported', () => diags.some((d) => d.code === 'MG0009'));
  assert.deepEqual(names(), ['a:a']);
  assert.equal(store.snapshot().version, before, 'no new snapshot for a rejected edit');
  const err = diags.find((d) => d.level === 'Error');
  assert.equal(err?.message, 'expected string, found a list');
  assert.equal(err?.line, 5);
  await writeFile(path.join(dir, 'a.yaml'), sa('a', 'fixed'));
  await waitFor('the fix to load', () => names().includes('a:fixed'));
});

test('patches in a watched folder get their kustomization targets', async (t) => {
  const { dir, src, store } = await setup(t);
  store.setSource('install', defaultInstallResult(mesh));
  await writeFile(path.join(dir, 'patch.json'), '[{"op": "add", "path": "/spec/ports/-", "value": {"name": "tls", "port": 15443}}]');
  await src.start();
  const ports = () =>
    store
      .snapshot()
      .services.find((s) => s.metadata.name === 'istio-egressgateway')
      ?.spec.ports?.map((p) => p.port) ?? [];
  assert.deepEqual(ports(), [80, 443], 'no target yet');
  await writeFile(
    path.join(dir, 'kustomization.yaml'),
    'patches:\n- path: patch.json\n  target: {kind: Service, name: istio-egressgateway, namespace: istio-system}\n',
  );
  await waitFor('the patch to apply', () => ports().includes(15443));
  await unlink(path.join(dir, 'patch.json'));
  await waitFor('the patch to go', () => !ports().includes(15443));
});

test('a file is read only after it has stayed unchanged for the debounce window, even when another file brings an early look', async (t) => {
  // A window far above the pauses below, so a loaded machine does not stretch a pause past it.
  const { dir, src, names, diags } = await setup(t, { debounceMs: 400, rescanMs: 60_000 });
  await src.start();
  const full = sa('h', 'whole');
  const cut = full.indexOf('{v:') + 4;
  const pause = () => new Promise((r) => setTimeout(r, 30));
  // A writer that pauses mid-file; meanwhile another file appears, and its event brings a look at once.
  await writeFile(path.join(dir, 'h.yaml'), full.slice(0, cut));
  await pause();
  await writeFile(path.join(dir, 'other.yaml'), sa('other'));
  await pause();
  await writeFile(path.join(dir, 'h.yaml'), full);
  await waitFor('both files to load', () => names().includes('h:whole') && names().includes('other:a'));
  assert.deepEqual(
    diags.filter((d) => d.level === 'Error'),
    [],
    'the half-written file was never read',
  );
});

test('a file renamed into place is read without waiting for the stability window; a file created in place still waits for it', async (t) => {
  // A window no test run reaches: whatever loads here did not wait for it.
  const { dir, src, names } = await setup(t, { debounceMs: 60_000, rescanMs: 60_000 });
  await writeFile(path.join(dir, 'a.yaml'), sa('a', 'v1'));
  await src.start();
  // Written under a temporary name, then renamed over the old file: what the lab and Kubernetes-style tools do.
  await writeFile(path.join(dir, '.a.yaml.tmp'), sa('a', 'v2'));
  await rename(path.join(dir, '.a.yaml.tmp'), path.join(dir, 'a.yaml'));
  await waitFor('the renamed file to be read', () => names().includes('a:v2'));
  // A temporary name without a leading dot, and a new file rather than a replacement.
  await writeFile(path.join(dir, 'n.yaml.tmp-1'), sa('n'));
  await rename(path.join(dir, 'n.yaml.tmp-1'), path.join(dir, 'n.yaml'));
  await waitFor('the renamed new file to be read', () => names().includes('n:a'));
  // Created in place: it may still be half written, so it waits for the (here unreachable) window.
  await writeFile(path.join(dir, 'b.yaml'), sa('b'));
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(!names().includes('b:a'), 'a file written in place is not read before it has been stable for the window');
  // A renamed-in file that is then written in place loses the trust: the rewrite waits for the window.
  await writeFile(path.join(dir, '.c.yaml.tmp'), sa('c', 'v1'));
  await rename(path.join(dir, '.c.yaml.tmp'), path.join(dir, 'c.yaml'));
  await waitFor('c to be read', () => names().includes('c:v1'));
  await writeFile(path.join(dir, 'c.yaml'), sa('c', 'v2-written-in-place'));
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(names().includes('c:v1'), 'the in-place rewrite of a renamed file still waits for the window');
  // An editor's save: the original moved aside, a new file written in place under the same name.
  await rename(path.join(dir, 'a.yaml'), path.join(dir, 'a.yaml~'));
  await writeFile(path.join(dir, 'a.yaml'), sa('a', 'v3-editor'));
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(!names().includes('a:v3-editor'), 'a file written in place where the original was moved aside waits for the window');
});

test('a file renamed into place while a look is running is read when that look ends, not after the stability window', async (t) => {
  const { dir, src, names } = await setup(t, { debounceMs: 60_000, rescanMs: 60_000 });
  // Enough files that a full scan takes a while: the rename below lands while it runs.
  await Promise.all(Array.from({ length: 400 }, (_, i) => writeFile(path.join(dir, `f${i}.yaml`), sa(`f${i}`))));
  await src.start();
  for (let round = 0; round < 5; round++) {
    // A dotfile event asks for a full scan at once; the rename follows while it runs.
    await writeFile(path.join(dir, `.r${round}.yaml.tmp`), sa(`r${round}`));
    await new Promise((r) => setTimeout(r, 5));
    await rename(path.join(dir, `.r${round}.yaml.tmp`), path.join(dir, `r${round}.yaml`));
    await waitFor(`r${round} to be read`, () => names().includes(`r${round}:a`), 5000);
  }
});

test("a Kubernetes ConfigMap volume's atomic swap (hidden ..data link renamed over) is read: hidden names still bring a walk when they are folders or links", async (t) => {
  const { dir, src, names } = await setup(t);
  await mkdir(path.join(dir, '..v1'));
  await writeFile(path.join(dir, '..v1', 'a.yaml'), sa('a', 'v1'));
  await symlink('..v1', path.join(dir, '..data'));
  await symlink(path.join('..data', 'a.yaml'), path.join(dir, 'a.yaml'));
  await src.start();
  assert.deepEqual(names(), ['a:v1']);
  // The kubelet's writer: a new timestamped folder, a temporary hidden link to it, renamed over ..data.
  await mkdir(path.join(dir, '..v2'));
  await writeFile(path.join(dir, '..v2', 'a.yaml'), sa('a', 'v2'));
  await symlink('..v2', path.join(dir, '..data_tmp'));
  await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  await rm(path.join(dir, '..v1'), { recursive: true });
  await waitFor('the swapped content to be read', () => names().includes('a:v2'));
});
