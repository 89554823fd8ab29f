// Transparent capture in real network namespaces: pod namespace A (198.18.0.1) and a remote namespace
// B (198.18.0.2) joined by a veth pair, both created by this test. The capture rules go into A; the
// "sidecar" is a listener on 15001/15006 in A that reports SO_ORIGINAL_DST for every connection.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyCapture, cleanupCapture, detectIptables, iptablesSave } from '../../src/capture/iptables.js';
import { canonicalRuleset } from '../../src/capture/iptables-save.js';
import { originalDstAvailable } from '../../src/capture/original-dst.js';
import { findExecutable } from '../../src/capture/command.js';
import { JsonChild, createNetns, fixtureArgv, linkNamespaces, netnsSkipReason, runIn, sh } from './netns-harness.js';

const skip =
  netnsSkipReason() ??
  (originalDstAvailable() ? undefined : 'the SO_ORIGINAL_DST addon is not built (run `npm ci` or `npx --yes node-gyp rebuild`)');
const PROXY = { uid: 1337, gid: 1337 };

function stateDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'mg-capture-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function connect(netns: string, host: string, port: number, as?: typeof PROXY): Record<string, unknown> {
  const r = runIn(netns, fixtureArgv('tcp-probe', ['connect', host, String(port)]), { as });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  assert.equal(r.status, 0, `client ${host}:${port}${as ? ` as uid ${as.uid}` : ''} failed: ${r.stdout} ${r.stderr}`);
  return JSON.parse(line) as Record<string, unknown>;
}

function pods(t: TestContext): { a: string; b: string } {
  const a = createNetns(t, 'a');
  const b = createNetns(t, 'b');
  linkNamespaces(a, '198.18.0.1/24', b, '198.18.0.2/24');
  return { a, b };
}

test(
  'capture in a pod namespace: redirect with original destination, UID 1337 and excluded ports bypass, cleanup restores iptables-save',
  { skip },
  async (t) => {
    const { a, b } = pods(t);
    const dir = stateDir(t);
    const tools = await detectIptables(4, { netns: a });
    const before = await iptablesSave(tools, { netns: a });

    const applied = await applyCapture({ excludeOutboundPorts: [9001] }, { netns: a, stateDir: dir });
    t.after(async () => {
      // Safety net when an assertion fails before the cleanup step below; a no-op after it.
      await cleanupCapture({ netns: a, stateDir: dir }).catch(() => undefined);
    });
    assert.equal(applied.backend, tools.backend);
    const during = await iptablesSave(tools, { netns: a });
    assert.match(during, /-A OUTPUT -j ISTIO_OUTPUT/);
    assert.match(during, /-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001/);

    // The sidecar (as the proxy user, as in a pod) and the remote servers.
    const sidecar = new JsonChild(t, a, fixtureArgv('tcp-probe', ['listen', '0.0.0.0:15001', '0.0.0.0:15006', '0.0.0.0:15021']), PROXY);
    const remote = new JsonChild(t, b, fixtureArgv('tcp-probe', ['listen', '198.18.0.2:9000', '198.18.0.2:9001']));
    await sidecar.waitFor((l) => l.event === 'ready');
    await remote.waitFor((l) => l.event === 'ready');

    // 1. An unmodified application connection to a remote address enters the outbound listener, which
    //    recovers where it was going.
    const app = connect(a, '198.18.0.2', 9000);
    assert.equal(app.data, 'hello from 0.0.0.0:15001', 'the application connection must be redirected to 15001');
    const seen = await sidecar.waitFor((l) => l.listener === '0.0.0.0:15001');
    assert.deepEqual(seen.original, { address: '198.18.0.2', port: 9000 });

    // 2. The proxy's own connection (UID 1337) is not captured: it reaches the remote server (no loop).
    const own = connect(a, '198.18.0.2', 9000, PROXY);
    assert.equal(own.data, 'hello from 198.18.0.2:9000', 'UID 1337 traffic must bypass capture');
    assert.equal(own.uid, 1337);

    // 3. An excluded outbound port bypasses the proxy.
    const excluded = connect(a, '198.18.0.2', 9001);
    assert.equal(excluded.data, 'hello from 198.18.0.2:9001', '--exclude-outbound-ports 9001 must bypass capture');

    // 4. Inbound: a connection from B to the pod's port 8080 enters the inbound listener with its destination.
    const inbound = connect(b, '198.18.0.1', 8080);
    assert.equal(inbound.data, 'hello from 0.0.0.0:15006');
    const seenIn = await sidecar.waitFor((l) => l.listener === '0.0.0.0:15006');
    assert.deepEqual(seenIn.original, { address: '198.18.0.1', port: 8080 });

    // 5. The proxy's health port is never captured inbound; unredirected sockets report their own address.
    const health = connect(b, '198.18.0.1', 15021);
    assert.equal(health.data, 'hello from 0.0.0.0:15021');
    const seenHealth = await sidecar.waitFor((l) => l.listener === '0.0.0.0:15021');
    assert.deepEqual(seenHealth.original, { address: '198.18.0.1', port: 15021 });
    assert.equal(
      sidecar.lines.filter((l) => l.event === 'conn').length,
      3,
      'exactly the three captured/health connections reach the sidecar',
    );

    // Cleanup removes exactly what was added.
    const cleaned = await cleanupCapture({ netns: a, stateDir: dir });
    assert.equal(cleaned.source, 'state');
    const after = await iptablesSave(tools, { netns: a });
    const exact = tools.backend === 'nft' && findExecutable('nft') !== undefined;
    assert.equal(
      canonicalRuleset(after, { ignoreEmptyTables: !exact }),
      canonicalRuleset(before, { ignoreEmptyTables: !exact }),
      `iptables-save after cleanup differs:\n--- before\n${before}\n--- after\n${after}`,
    );
    // And traffic flows directly again.
    assert.equal(connect(a, '198.18.0.2', 9000).data, 'hello from 198.18.0.2:9000');
  },
);

test('applying twice is refused, --reconcile replaces, and cleanup without a state file uses the settings', { skip }, async (t) => {
  const a = createNetns(t, 'r');
  const dir = stateDir(t);
  const tools = await detectIptables(4, { netns: a });
  // Pre-existing rules of someone else's must survive capture and cleanup untouched.
  runIn(a, ['iptables', '-w', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '--dport', '4444', '-j', 'RETURN']);
  const before = await iptablesSave(tools, { netns: a });
  await applyCapture({ dns: true }, { netns: a, stateDir: dir });
  t.after(async () => {
    // Safety net for a failed assertion; removes nothing when already clean.
    await cleanupCapture({ netns: a, stateDir: dir, config: { dns: true } }).catch(() => undefined);
  });
  await assert.rejects(applyCapture({ dns: true }, { netns: a, stateDir: dir }), {
    code: 'E_IPTABLES_STATE',
    message: /already present.*--cleanup/,
  });
  await applyCapture({ dns: true, excludeOutboundPorts: [22] }, { netns: a, stateDir: dir, reconcile: true });
  const during = await iptablesSave(tools, { netns: a });
  assert.equal(during.split('\n').filter((l) => l === '-A OUTPUT -j ISTIO_OUTPUT').length, 1, 'reconcile must not duplicate the jump');
  assert.match(during, /--dport 22 -j RETURN/);

  rmSync(dir, { recursive: true, force: true }); // lose the state file: cleanup must work from the settings
  const cleaned = await cleanupCapture({ netns: a, stateDir: dir, config: { dns: true, excludeOutboundPorts: [22] } });
  assert.equal(cleaned.source, 'config');
  const after = await iptablesSave(tools, { netns: a });
  assert.equal(canonicalRuleset(after, { ignoreEmptyTables: true }), canonicalRuleset(before, { ignoreEmptyTables: true }));
  assert.match(after, /--dport 4444 -j RETURN/);
});

const legacySkip = skip ?? (findExecutable('iptables-legacy-restore') ? undefined : 'iptables-legacy is not installed');
test('the legacy backend captures and cleans up the same way', { skip: legacySkip }, async (t) => {
  const { a, b } = pods(t);
  const dir = stateDir(t);
  const tools = await detectIptables(4, { netns: a, backend: 'legacy' });
  assert.equal(tools.backend, 'legacy');
  const before = await iptablesSave(tools, { netns: a });
  const applied = await applyCapture({}, { netns: a, stateDir: dir, backend: 'legacy' });
  t.after(async () => {
    // Safety net for a failed assertion.
    await cleanupCapture({ netns: a, stateDir: dir }).catch(() => undefined);
  });
  assert.equal(applied.backend, 'legacy');
  const sidecar = new JsonChild(t, a, fixtureArgv('tcp-probe', ['listen', '0.0.0.0:15001']), PROXY);
  await sidecar.waitFor((l) => l.event === 'ready');
  void b;
  assert.equal(connect(a, '198.18.0.2', 7000).data, 'hello from 0.0.0.0:15001');
  assert.deepEqual((await sidecar.waitFor((l) => l.event === 'conn')).original, { address: '198.18.0.2', port: 7000 });
  await cleanupCapture({ netns: a, stateDir: dir });
  const after = await iptablesSave(tools, { netns: a });
  // A legacy table, once instantiated, stays (empty); everything in it is gone.
  assert.equal(canonicalRuleset(after, { ignoreEmptyTables: true }), canonicalRuleset(before, { ignoreEmptyTables: true }));
});

const ipv6Skip = skip ?? (findExecutable('ip6tables-restore') ? undefined : 'ip6tables is not installed');
test(
  'IPv6: ip6tables capture redirects to the listener and IP6T_SO_ORIGINAL_DST recovers the destination',
  { skip: ipv6Skip },
  async (t) => {
    const a = createNetns(t, 'six');
    const b = createNetns(t, 'sixb');
    // 2001:2::/48 is the IPv6 benchmarking range (RFC 5180), only ever inside these namespaces; nodad: usable at once.
    sh('ip', ['-n', a, 'link', 'add', 'mgt0', 'type', 'veth', 'peer', 'name', 'mgt1', 'netns', b]);
    sh('ip', ['-n', a, 'addr', 'add', '2001:2::1/64', 'dev', 'mgt0', 'nodad']);
    sh('ip', ['-n', b, 'addr', 'add', '2001:2::2/64', 'dev', 'mgt1', 'nodad']);
    sh('ip', ['-n', a, 'link', 'set', 'mgt0', 'up']);
    sh('ip', ['-n', b, 'link', 'set', 'mgt1', 'up']);
    const dir = stateDir(t);
    const tools6 = await detectIptables(6, { netns: a });
    const before6 = await iptablesSave(tools6, { netns: a });
    await applyCapture({ ipv6: true }, { netns: a, stateDir: dir });
    t.after(async () => {
      // Safety net for a failed assertion.
      await cleanupCapture({ netns: a, stateDir: dir }).catch(() => undefined);
    });
    const sidecar = new JsonChild(t, a, fixtureArgv('tcp-probe', ['listen', ':::15001', ':::15006']), PROXY);
    const remote = new JsonChild(t, b, fixtureArgv('tcp-probe', ['listen', '2001:2::2:9000']));
    await sidecar.waitFor((l) => l.event === 'ready');
    await remote.waitFor((l) => l.event === 'ready');

    assert.equal(connect(a, '2001:2::2', 9000).data, 'hello from :::15001');
    assert.deepEqual((await sidecar.waitFor((l) => l.listener === ':::15001')).original, { address: '2001:2::2', port: 9000 });
    assert.equal(connect(a, '2001:2::2', 9000, PROXY).data, 'hello from 2001:2::2:9000', 'UID 1337 bypasses over IPv6 too');
    assert.equal(connect(b, '2001:2::1', 8080).data, 'hello from :::15006');
    assert.deepEqual((await sidecar.waitFor((l) => l.listener === ':::15006')).original, { address: '2001:2::1', port: 8080 });

    await cleanupCapture({ netns: a, stateDir: dir });
    const after6 = await iptablesSave(tools6, { netns: a });
    const exact = tools6.backend === 'nft' && findExecutable('nft') !== undefined;
    assert.equal(canonicalRuleset(after6, { ignoreEmptyTables: !exact }), canonicalRuleset(before6, { ignoreEmptyTables: !exact }));
  },
);
