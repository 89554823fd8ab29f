// The SO_ORIGINAL_DST addon outside any capture: what it reports for a connection that was not
// redirected, and the errors a caller sees when it cannot work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { getOriginalDestination, originalDstAvailable } from '../../src/capture/original-dst.js';
import { fixtureArgv } from './netns-harness.js';
import { repoRoot } from '../repo-root.js';

const skip = originalDstAvailable() ? undefined : 'the SO_ORIGINAL_DST addon is not built (run `npm ci` or `npx --yes node-gyp rebuild`)';

test('a connection that was not redirected reports its own local address (or nothing without conntrack)', { skip }, async (t) => {
  const seen: Array<ReturnType<typeof getOriginalDestination>> = [];
  const server = net.createServer((s) => {
    seen.push(getOriginalDestination(s));
    s.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    c.on('error', reject);
    c.on('close', () => resolve());
    c.resume();
  });
  assert.equal(seen.length, 1);
  // With conntrack loaded the original tuple is the address the client used; without it there is no record.
  if (seen[0] !== undefined) assert.deepEqual(seen[0], { address: '127.0.0.1', port });
});

test('a socket without a file descriptor is refused with E_ORIGINAL_DST', { skip }, () => {
  const s = new net.Socket();
  assert.throws(() => getOriginalDestination(s), { code: 'E_ORIGINAL_DST', message: /no file descriptor/ });
});

test('when the addon cannot load, the error says how to build it', () => {
  // A child with the addon path pointed at nothing, so this process's loaded addon is not involved.
  const [node, ...args] = fixtureArgv('original-dst-missing', []);
  const r = spawnSync(node!, args, {
    cwd: repoRoot(),
    encoding: 'utf8',
    env: { ...process.env, MESHGATE_ORIGINAL_DST_ADDON: '/nonexistent/original_dst.node' },
    timeout: 20_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { available: boolean; code: string; message: string };
  assert.equal(out.available, false);
  assert.equal(out.code, 'E_ORIGINAL_DST_UNAVAILABLE');
  assert.match(out.message, /\/nonexistent\/original_dst\.node/);
  assert.match(out.message, /node-gyp rebuild/);
});
