// The Dockerfile, checked by what runs here: every COPY source exists and is not dockerignored, what the
// runtime stage takes from the build stage is what the build produces (tsc's dist/src, node-gyp's
// addon), and every command the manifests and the injector run is a real `meshgate` command with real
// flags. `docker build` itself needs a Docker engine: it runs when one answers, else it is skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { findExecutable } from '../../src/capture/command.js';
import { defaultInstallOptions, renderInstall } from '../../src/install/manifests.js';
import { injectPod } from '../../src/inject/sidecar-injection.js';
import { repoRoot } from '../repo-root.js';
import { clientPod, SETTINGS } from '../inject/injection-fixture.js';

const root = repoRoot();
const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
/** Instructions with continuation lines joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n\s*/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));
const stages = instructions.reduce<string[][]>((acc, l) => (l.startsWith('FROM ') ? [...acc, [l]] : (acc.at(-1)!.push(l), acc)), []);
const ignored = readFileSync(path.join(root, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

test('both stages are node:20-slim; the runtime installs iptables, omits dev dependencies and runs as 1337', () => {
  assert.deepEqual(
    stages.map((s) => s[0]!.split(/\s+/)[1]),
    ['node:20-slim', 'node:20-slim'],
  );
  const [build, runtime] = stages as [string[], string[]];
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.ok(pkg.scripts.build, 'package.json has a build script');
  assert.ok(
    build.some((l) => l === 'RUN npm ci'),
    'the build stage runs npm ci (node-gyp builds the addon from binding.gyp)',
  );
  assert.ok(
    build.some((l) => l === 'RUN npm run build'),
    `the build stage runs the package's build script (${pkg.scripts.build})`,
  );
  assert.ok(runtime.some((l) => /^RUN npm ci --omit=dev\b/.test(l)));
  assert.ok(runtime.some((l) => /apt-get install -y --no-install-recommends iptables\b/.test(l)));
  assert.equal(runtime.filter((l) => l.startsWith('USER ')).at(-1), 'USER 1337:1337');
  assert.ok(
    runtime.some((l) => l.includes('ln -s /app/dist/src/cli/main.js /usr/local/bin/meshgate')),
    '`meshgate` on PATH is the CLI',
  );
});

test('every COPY source exists, is not dockerignored, and --from=build copies what the build makes', () => {
  const gyp = readFileSync(path.join(root, 'binding.gyp'), 'utf8');
  for (const l of instructions.filter((x) => x.startsWith('COPY '))) {
    const parts = l.split(/\s+/).slice(1);
    const from = parts.find((p) => p.startsWith('--from='));
    const sources = parts.filter((p) => !p.startsWith('--')).slice(0, -1);
    for (const s of sources) {
      if (from) {
        // /app is the build stage's WORKDIR: tsc writes dist/ (outDir, rootDir "."), node-gyp build/Release/<target>.node.
        const rel = s.replace(/^\/app\//, '');
        if (rel.startsWith('build/Release/'))
          assert.match(gyp, new RegExp(`"target_name":\\s*"${path.basename(rel, '.node')}"`), `${s} is the addon binding.gyp builds`);
        else assert.ok(existsSync(path.join(root, rel)), `${s}: tsc produces it here too (${rel})`);
      } else {
        assert.ok(existsSync(path.join(root, s)), `COPY ${s}: exists in the checkout`);
        assert.ok(!ignored.includes(s.replace(/\/$/, '')), `COPY ${s} is not excluded by .dockerignore`);
      }
    }
  }
});

test('every command the manifests and the injector run is a meshgate command with flags it has', () => {
  const main = path.join(root, 'dist', 'src', 'cli', 'main.js');
  assert.match(readFileSync(main, 'utf8'), /^#!\/usr\/bin\/env node/, 'main.js runs as an executable');
  const pod = injectPod(clientPod(), SETTINGS);
  const commands = [
    ...renderInstall(defaultInstallOptions('0.1.0')).flatMap((o) =>
      ((o.spec as { template?: { spec: { containers: { command: string[] }[] } } } | undefined)?.template?.spec.containers ?? []).map(
        (c) => c.command,
      ),
    ),
    ...[...(pod.spec.initContainers ?? []), ...pod.spec.containers].filter((c) => c.command?.[0] === 'meshgate').map((c) => c.command!),
  ] as string[][];
  assert.ok(commands.length >= 5);
  for (const cmd of commands) {
    assert.equal(cmd[0], 'meshgate');
    const help = spawnSync(process.execPath, [main, cmd[1]!, '--help'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(help.status, 0, `meshgate ${cmd[1]} --help: ${help.stderr}`);
    for (const flag of cmd.filter((a) => a.startsWith('--')))
      assert.ok(
        help.stdout.includes(`${flag} `) || help.stdout.includes(`${flag},`) || help.stdout.includes(`${flag}\n`),
        `meshgate ${cmd[1]} has ${flag}`,
      );
  }
});

function dockerSkipReason(): string | undefined {
  if (!findExecutable('docker')) return 'docker is not installed: the image build is not checked here';
  const info = spawnSync('docker', ['info'], { encoding: 'utf8', timeout: 15_000 });
  if (info.status !== 0) return 'no Docker engine answers (docker info failed): the image build is not checked here';
  return undefined;
}

test('docker build produces an image whose meshgate runs', { skip: dockerSkipReason(), timeout: 900_000 }, (t) => {
  const tag = `meshgate-test:${process.pid}`;
  t.after(() => spawnSync('docker', ['rmi', '-f', tag], { timeout: 60_000 }));
  const b = spawnSync('docker', ['build', '-t', tag, root], { encoding: 'utf8', timeout: 900_000 });
  assert.equal(b.status, 0, b.stderr.slice(-3000));
  const r = spawnSync('docker', ['run', '--rm', tag, 'meshgate', '--version'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
});
