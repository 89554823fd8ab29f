// Key files are written to a fresh temporary name (O_EXCL, 0600) and renamed over the target: never
// world-readable, never written through a symlink planted at the temporary name or at the target.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writePrivateFile, writePrivateFileSync } from '../../src/pki/private-file.js';
import { MeshCA } from '../../src/pki/mesh-ca.js';
import { createRootCa, issueLeaf } from '../../src/pki/custom-ca.js';
import { tempDir } from './helpers.js';

const mode = (f: string): number => statSync(f).mode & 0o777;

test('a symlink planted at the target is replaced, not written through; the file is 0600', async (t) => {
  const dir = tempDir(t);
  const victim = path.join(dir, 'victim');
  writeFileSync(victim, 'do not touch\n', { mode: 0o644 });
  const target = path.join(dir, 'ca-key.pem');
  symlinkSync(victim, target);
  await writePrivateFile(target, 'KEY\n');
  assert.equal(readFileSync(victim, 'utf8'), 'do not touch\n', 'the symlink target is untouched');
  assert.equal(mode(victim), 0o644);
  assert.ok(lstatSync(target).isFile(), 'the target is now a regular file, not the symlink');
  assert.equal(readFileSync(target, 'utf8'), 'KEY\n');
  assert.equal(mode(target), 0o600);
});

test('a symlink planted at the temporary name is not followed: another name is taken', (t) => {
  const dir = tempDir(t);
  const victim = path.join(dir, 'victim');
  writeFileSync(victim, 'do not touch\n', { mode: 0o644 });
  const target = path.join(dir, 'token');
  const planted = path.join(dir, '.token.planted.tmp');
  symlinkSync(victim, planted);
  const suffixes = ['planted', 'fresh'];
  writePrivateFileSync(target, 'TOKEN', { tempSuffix: () => suffixes.shift() ?? 'more' });
  assert.deepEqual(suffixes, [], 'the planted name was tried, refused, and a fresh one used');
  assert.equal(readFileSync(victim, 'utf8'), 'do not touch\n');
  assert.equal(readlinkSync(planted), victim, 'the planted symlink is left alone');
  assert.equal(readFileSync(target, 'utf8'), 'TOKEN');
  assert.equal(mode(target), 0o600);
  assert.deepEqual(readdirSync(dir).sort(), ['.token.planted.tmp', 'token', 'victim'], 'no temporary file is left behind');
});

test('a dangling symlink at the temporary name does not create its destination', (t) => {
  const dir = tempDir(t);
  const elsewhere = path.join(dir, 'would-be-created');
  symlinkSync(elsewhere, path.join(dir, '.k.x.tmp'));
  const suffixes = ['x', 'y'];
  writePrivateFileSync(path.join(dir, 'k'), 'K', { tempSuffix: () => suffixes.shift() ?? 'z' });
  assert.throws(() => lstatSync(elsewhere), /ENOENT/, 'O_EXCL refused the dangling link instead of creating its destination');
  assert.equal(readFileSync(path.join(dir, 'k'), 'utf8'), 'K');
});

test('the mode is exactly what was asked whatever the umask, and an existing 0644 key file is replaced by a 0600 one', (t) => {
  const dir = tempDir(t);
  const f = path.join(dir, 'key.pem');
  writeFileSync(f, 'old', { mode: 0o644 });
  const old = process.umask(0);
  try {
    writePrivateFileSync(f, 'new');
    writePrivateFileSync(path.join(dir, 'cert.pem'), 'cert', { mode: 0o644 });
  } finally {
    process.umask(old);
  }
  assert.equal(mode(f), 0o600);
  assert.equal(mode(path.join(dir, 'cert.pem')), 0o644);
});

test('MeshCA.save and meshgate ca (createRootCa, issueLeaf) write through the helper: keys 0600, a planted key symlink not followed', async (t) => {
  const dir = tempDir(t);
  const victim = path.join(dir, 'victim');
  writeFileSync(victim, 'do not touch\n', { mode: 0o644 });
  const caDir = path.join(dir, 'ca');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(caDir, { mode: 0o700 });
  symlinkSync(victim, path.join(caDir, 'ca-key.pem'));
  const ca = await MeshCA.createSelfSigned({ trustDomain: 'cluster.local' });
  await ca.save(caDir);
  assert.equal(readFileSync(victim, 'utf8'), 'do not touch\n');
  assert.ok(lstatSync(path.join(caDir, 'ca-key.pem')).isFile());
  assert.equal(mode(path.join(caDir, 'ca-key.pem')), 0o600);
  assert.equal(mode(path.join(caDir, 'root-cert.pem')), 0o644);

  const root = path.join(dir, 'r');
  mkdirSync(root, { mode: 0o700 });
  symlinkSync(victim, path.join(root, 'root-key.pem'));
  await createRootCa({ dir: root, name: 'Root R', ttlSeconds: 86400, force: true });
  assert.equal(readFileSync(victim, 'utf8'), 'do not touch\n');
  assert.ok(lstatSync(path.join(root, 'root-key.pem')).isFile());
  assert.equal(mode(path.join(root, 'root-key.pem')), 0o600);
  const leafDir = path.join(dir, 'srv');
  await issueLeaf({ caDir: root, outDir: leafDir, dns: ['db.example'], uris: [], ips: [], usage: 'server', ttlSeconds: 3600 });
  for (const f of ['key.pem', 'cert.pem', 'ca.pem']) assert.equal(mode(path.join(leafDir, f)), 0o600, f);
  assert.equal(mode(leafDir), 0o700);
});
