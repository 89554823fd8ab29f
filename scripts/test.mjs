#!/usr/bin/env node
// The whole test suite, as README.md's quick start runs it: `npm test`.
// 1. As root on Debian, install once the system packages the tests use (MariaDB, iptables, HAProxy,
//    tcpdump, openssl, sysbench, iperf3); as any other user, tests that need a missing one skip and
//    say which package to install.
// 2. Type-check and build with tsc (a type error fails the run).
// 3. Lint (eslint) and check formatting (prettier), then run every test file under dist/test/ with node's own test runner.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { systemPackages, missingPackages } from './system-packages.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

function testFiles(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.test.js'))
    .map((e) => path.join(e.parentPath ?? e.path, e.name))
    .sort();
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

const missing = missingPackages();
if (missing.length > 0) {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot && existsSync('/usr/bin/apt-get') && process.env.MESHGATE_NO_APT !== '1') {
    console.log(`# installing system packages the tests use: ${missing.join(' ')}`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    if (
      run('apt-get', ['update', '-qq'], { env }) !== 0 ||
      run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env }) !== 0
    ) {
      console.error('# apt-get failed; tests needing those packages will report themselves skipped');
    }
  } else {
    console.log(`# not installing system packages (not root or no apt-get); tests that need them skip.`);
    console.log(`# to run them: sudo apt-get install ${missing.join(' ')}`);
  }
}

console.log('# building (tsc)');
if (run(process.execPath, [path.join('node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']) !== 0) {
  console.error('# type check failed');
  process.exit(1);
}
// The `meshgate` bin is executable whoever links it (npm marks it only when it first links the package).
chmodSync(path.join('dist', 'src', 'cli', 'main.js'), 0o755);

const only = process.argv.slice(2);
if (only.length === 0) {
  console.log('# linting (eslint: floating promises, import boundaries; prettier: formatting)');
  if (run(process.execPath, [path.join('node_modules', 'eslint', 'bin', 'eslint.js'), 'src', 'test', 'bench', 'soak']) !== 0) {
    console.error('# lint failed');
    process.exit(1);
  }
  if (run(process.execPath, [path.join('node_modules', 'prettier', 'bin', 'prettier.cjs'), '--check', '--log-level', 'warn', '.']) !== 0) {
    console.error('# formatting differs from prettier: run `npm run format`');
    process.exit(1);
  }
}

// Only *.test.js files are tests: node's own directory search would also run every helper and
// fixture program under a folder named `test`.
const targets = only.length > 0 ? only : testFiles('dist/test');
const status = run(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=300000', ...targets], {
  env: { ...process.env, MESHGATE_SYSTEM_PACKAGES: systemPackages.map((p) => p.pkg).join(' ') },
});
process.exit(status);
