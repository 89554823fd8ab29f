// A listener of an LDS update that cannot bind, as Envoy's listener manager treats it: the other
// listeners are applied and serve, the failing one is left out and reported (NACK naming it, config_dump
// `error_state`, the listener_create_failure counter, a log line with listener, address and errno),
// readiness is not held back by it, and a later update that still carries it binds it once it can.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ListenersNotBoundError } from '../../src/proxy/errors.js';
import { snapshotFromResources } from '../../src/xds/snapshot-cache.js';
import { formatNodeId } from '../../src/envoy/node.js';
import type { Cluster, Listener } from '../../src/envoy/envoy-types.js';
import { startControlPlane } from './control-plane-fixture.js';
import { closedPort, echoServer, listener, metric, newProxy, port, roundTrip, staticCluster, tcpProxyFilter, waitFor } from './helpers.js';

interface DumpedListener {
  name: string;
  activeState?: { versionInfo: string; listener: { name: string } };
  errorState?: { details: string; lastUpdateAttempt: string; versionInfo: string; failedConfiguration: { '@type': string; name: string } };
}

function dumpedListeners(dump: { configs: Record<string, unknown>[] }): DumpedListener[] {
  const ld = dump.configs.find((c) => String(c['@type']).endsWith('ListenersConfigDump')) as { dynamicListeners: DumpedListener[] };
  return ld.dynamicListeners;
}

async function takePort(t: { after(fn: () => Promise<void>): void }): Promise<{ port: number; release: () => Promise<void> }> {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  let open = true;
  const release = async (): Promise<void> => {
    if (open) {
      open = false;
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  };
  t.after(release);
  return { port: (blocker.address() as net.AddressInfo).port, release };
}

test('an LDS update with a listener whose port is taken: the others serve, the failing one is in error_state, counted, logged, and bound by a later update', async (t) => {
  const echo = await echoServer(t);
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const { proxy } = newProxy(t, { log: (level, msg, fields) => lines.push({ level, msg, fields }) });
  proxy.applyClusters([staticCluster('c1', [{ port: echo.port }])]);
  const taken = await takePort(t);
  const good = listener('l1', 0, [{ filters: [tcpProxyFilter('c1')] }]);
  const blocked = listener('l2', taken.port, [{ filters: [tcpProxyFilter('c1')] }]);

  await assert.rejects(
    proxy.applyListeners([good, blocked], 'v1'),
    (e: unknown) =>
      e instanceof ListenersNotBoundError &&
      e.code === 'E_LISTENERS_NOT_BOUND' &&
      e.failures.map((f) => f.listener).join() === 'l2' &&
      new RegExp(`listener "l2": cannot bind 127\\.0\\.0\\.1:${taken.port}: .*EADDRINUSE`).test(e.message),
  );
  assert.deepEqual(proxy.listenerNames(), ['l1'], 'the listener that bound is applied');
  assert.equal((await roundTrip(port(proxy, 'l1'), 'served')).echoed, 'served');
  assert.equal(proxy.isReady(), true, 'readiness is not held back by the listener that cannot bind');

  const ls = dumpedListeners(proxy.configDump());
  assert.deepEqual(
    ls.map((l) => l.name),
    ['l1', 'l2'],
  );
  assert.equal(ls[0]!.activeState?.versionInfo, 'v1');
  assert.equal(ls[0]!.errorState, undefined);
  assert.equal(ls[1]!.activeState, undefined, 'the failing listener is not active');
  assert.match(ls[1]!.errorState!.details, new RegExp(`cannot bind 127\\.0\\.0\\.1:${taken.port}: .*EADDRINUSE`));
  assert.equal(ls[1]!.errorState!.failedConfiguration.name, 'l2');
  assert.equal(ls[1]!.errorState!.versionInfo, 'v1');
  assert.ok(!Number.isNaN(Date.parse(ls[1]!.errorState!.lastUpdateAttempt)));
  assert.equal(await metric(proxy, 'meshgate_proxy_listener_create_failures_total', { listener: 'l2', reason: 'EADDRINUSE' }), 1);
  assert.equal(await metric(proxy, 'meshgate_proxy_config_updates_total', { type: 'listener', result: 'rejected' }), 1);
  const line = lines.find((l) => l.level === 'error' && l.msg.includes('"l2"'));
  assert.ok(line, `an error line names the listener; got ${JSON.stringify(lines)}`);
  assert.deepEqual(line.fields, { listener: 'l2', address: `127.0.0.1:${taken.port}`, errno: 'EADDRINUSE' });

  // An update that would move l1 to another taken port fails for l1: the running l1 keeps serving.
  const p1 = port(proxy, 'l1');
  const taken2 = await takePort(t);
  await assert.rejects(
    proxy.applyListeners([listener('l1', taken2.port, good.filterChains), blocked], 'v2'),
    (e: unknown) =>
      e instanceof ListenersNotBoundError &&
      e.failures
        .map((f) => f.listener)
        .sort()
        .join() === 'l1,l2',
  );
  assert.equal(port(proxy, 'l1'), p1);
  assert.equal((await roundTrip(p1, 'kept')).echoed, 'kept');
  assert.equal(
    dumpedListeners(proxy.configDump()).find((l) => l.name === 'l1')!.activeState!.versionInfo,
    'v1',
    'l1 still runs its v1 config',
  );

  // The port is free again: the next update carrying l2 binds it and its error_state is gone.
  await taken.release();
  await proxy.applyListeners([good, blocked], 'v3');
  assert.deepEqual(proxy.listenerNames().sort(), ['l1', 'l2']);
  assert.equal((await roundTrip(taken.port, 'retried')).echoed, 'retried');
  const after = dumpedListeners(proxy.configDump());
  assert.ok(
    after.every((l) => l.errorState === undefined && l.activeState !== undefined),
    JSON.stringify(after),
  );
});

test('a listener that fails to bind does not hold back a listener update of the same batch that changes only its chains', async (t) => {
  const a = await echoServer(t);
  const b = await echoServer(t);
  const { proxy } = newProxy(t);
  proxy.applyClusters([staticCluster('a', [{ port: a.port }]), staticCluster('b', [{ port: b.port }])]);
  await proxy.applyListeners([listener('l1', 0, [{ filters: [tcpProxyFilter('a')] }])]);
  const p1 = port(proxy, 'l1');
  const taken = await takePort(t);
  await assert.rejects(
    proxy.applyListeners([
      listener('l1', 0, [{ filters: [tcpProxyFilter('b')] }]),
      listener('l2', taken.port, [{ filters: [tcpProxyFilter('a')] }]),
    ]),
    ListenersNotBoundError,
  );
  assert.equal(port(proxy, 'l1'), p1);
  assert.equal((await roundTrip(p1, 'to b')).echoed, 'to b');
  assert.equal(b.accepted(), 1, 'the in-place update of l1 was applied');
});

const here = path.dirname(fileURLToPath(import.meta.url));
const compiled = import.meta.url.endsWith('.js');
const command = path.resolve(here, '../../src/cli', compiled ? 'proxy.js' : 'proxy.ts');
const runner = `import { Command } from 'commander'; import { registerProxyCommand } from ${JSON.stringify(command)};
const p = new Command('meshgate'); registerProxyCommand(p); await p.parseAsync(process.argv.slice(1), { from: 'user' });`;
const NOBODY = 65534;

function unprivilegedPortStart(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
  } catch {
    return 1024;
  }
}
const cannotTest =
  typeof process.getuid !== 'function' || process.getuid() !== 0
    ? 'needs root (the proxy starts as root and drops to uid 65534)'
    : unprivilegedPortStart() <= 443
      ? `net.ipv4.ip_unprivileged_port_start is ${unprivilegedPortStart()}: any user may bind 443 here`
      : false;

test(
  'a proxy running as uid 65534 given port 443 next to a high port: NACK names 443, the other listener serves, the proxy is ready, error_state and the counter say EACCES',
  { skip: cannotTest, timeout: 60_000 },
  async (t) => {
    const cp = await startControlPlane(t);
    const echo = await echoServer(t);
    const lport = await closedPort();
    const dir = mkdtempSync(path.join(tmpdir(), 'meshgate-bind-failure-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // The bootstrap and mesh root are read as root before the drop; the token after it, so nobody may read it.
    chmodSync(dir, 0o755);
    writeFileSync(path.join(dir, 'root-cert.pem'), cp.ca.rootBundlePem(), { mode: 0o600 });
    writeFileSync(path.join(dir, 'token'), await cp.tokens.mint({ namespace: 'app', serviceAccount: 'client', ttlSeconds: 600 }), {
      mode: 0o644,
    });
    const n = { role: 'sidecar' as const, ips: ['127.0.0.1'], podName: 'client-0', namespace: 'app', domainSuffix: 'cluster.local' };
    const id = formatNodeId(n);
    const file = path.join(dir, 'bootstrap.json');
    writeFileSync(
      file,
      JSON.stringify({
        node: { ...n, id, serviceAccount: 'client', labels: { app: 'client' }, clusterId: 'cluster-a' },
        discoveryAddress: cp.address,
        rootCertFile: 'root-cert.pem',
        tokenFile: 'token',
        trustDomain: 'cluster.local',
        admin: { address: '127.0.0.1', port: 0 },
        drainTimeoutSeconds: 1,
        accessLog: { path: '/dev/null', format: 'json' },
      }),
      { mode: 0o600 },
    );
    // A loopback address of its own, so no other 443 on this host is in the way (EACCES comes before EADDRINUSE anyway).
    const low = `127.${20 + Math.floor(Math.random() * 200)}.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
    const cluster: Cluster = staticCluster('outbound|7|echo', [{ port: echo.port }]);
    const high: Listener = {
      name: `127.0.0.1_${lport}`,
      address: { socketAddress: { address: '127.0.0.1', portValue: lport } },
      filterChains: [{ filters: [tcpProxyFilter(cluster.name)] }],
    };
    const https: Listener = {
      name: `${low}_443`,
      address: { socketAddress: { address: low, portValue: 443 } },
      filterChains: [{ filters: [tcpProxyFilter(cluster.name)] }],
    };
    const nack = new Promise<string>((resolve) =>
      cp.ads.on('nack', (e: { typeUrl: string; errorDetail: { message: string } }) => {
        if (e.typeUrl.endsWith('Listener')) resolve(e.errorDetail.message);
      }),
    );
    cp.cache.setSnapshot(id, snapshotFromResources('1', { listeners: [https, high], clusters: [cluster], endpoints: [], secrets: [] }));

    const child = spawn(
      process.execPath,
      [
        ...(compiled ? [] : ['--import', 'tsx']),
        '--input-type=module',
        '-e',
        runner,
        'proxy',
        '--bootstrap',
        file,
        '--run-as',
        `${NOBODY}:${NOBODY}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], cwd: path.resolve(here, '../..') },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdout.resume();
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });

    await waitFor(() => /admin on 127\.0\.0\.1:\d+/.test(stderr), 20_000, `the admin line; got: ${stderr.slice(-800)}`);
    assert.match(stderr, new RegExp(`running as uid ${NOBODY}, gid ${NOBODY}`));
    const admin = `http://127.0.0.1:${/admin on 127\.0\.0\.1:(\d+)/.exec(stderr)![1]}`;
    const message = await nack;
    assert.match(message, new RegExp(`listener "${https.name}": cannot bind ${low.replaceAll('.', '\\.')}:443: listen EACCES`));
    assert.ok(!message.includes(high.name), 'the NACK names only the listener that failed');
    await waitFor(
      async () =>
        (await fetch(`${admin}/ready`).then(
          (r) => r.status,
          () => 0,
        )) === 200,
      15_000,
      `ready; got: ${stderr.slice(-800)}`,
    );
    assert.equal((await roundTrip(lport, 'through the high port')).echoed, 'through the high port');

    const dump = (await (await fetch(`${admin}/config_dump`)).json()) as { configs: Record<string, unknown>[] };
    const ls = dumpedListeners(dump);
    assert.ok(ls.find((l) => l.name === high.name)?.activeState?.versionInfo, 'the high port listener is active');
    const failed = ls.find((l) => l.name === https.name);
    assert.equal(failed?.activeState, undefined);
    assert.match(failed!.errorState!.details, /listen EACCES/);
    const prom = await (await fetch(`${admin}/stats/prometheus`)).text();
    assert.ok(prom.includes(`meshgate_proxy_listener_create_failures_total{listener="${https.name}",reason="EACCES"} 1`), prom);
    const logLine = stderr.split('\n').find((l) => l.includes('"level":"error"') && l.includes(https.name));
    assert.ok(logLine, stderr.slice(-1500));
    const logged = JSON.parse(logLine) as Record<string, unknown>;
    assert.deepEqual([logged.listener, logged.address, logged.errno], [https.name, `${low}:443`, 'EACCES']);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr.slice(-800));
  },
);
