// Downstream connection limits (Envoy's per-listener runtime limit and the overload manager's global one):
// a connection over a limit is closed at accept — no upstream, no TLS handshake, no access log line —
// counted as Envoy counts it, logged at most once a second per listener; open connections are never
// dropped when a limit is reached or changed at runtime; bootstrap and CLI settings are validated.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAdmin } from '../../src/proxy/admin.js';
import { loadBootstrap } from '../../src/proxy/bootstrap.js';
import { DEFAULT_GLOBAL_DOWNSTREAM_MAX_CONNECTIONS, defaultGlobalDownstreamMaxConnections } from '../../src/proxy/connection-limits.js';
import { Command } from 'commander';
import { connectionLimitsFromFlags, registerProxyCommand } from '../../src/cli/proxy.js';
import type { ProxyOptions } from '../../src/proxy/proxy.js';
import {
  caSecret,
  certSecret,
  downstreamTls,
  echoServer,
  issue,
  listener,
  makeCa,
  metric,
  newProxy,
  port,
  spiffe,
  staticCluster,
  tcpProxyFilter,
  waitFor,
  type Pair,
} from './helpers.js';

type T = Parameters<typeof newProxy>[0];

let meshCa: Pair;
let serverCert: Pair;
before(async () => {
  meshCa = await makeCa('mesh-ca');
  serverCert = await issue(meshCa, { uris: [spiffe('db', 'mysql')] });
});

/** Plain listeners `a`, `b` (and a TLS listener `tls`) in front of one echo server. */
async function limitedProxy(t: T, opts: ProxyOptions, extra: Partial<Parameters<typeof listener>[3]> = {}) {
  const echo = await echoServer(t);
  const r = newProxy(t, opts);
  r.proxy.setLocalSecret('default', certSecret('default', serverCert));
  r.proxy.setLocalSecret('ROOTCA', caSecret('ROOTCA', meshCa));
  r.proxy.applyClusters([staticCluster('backend', [{ port: echo.port }])]);
  await r.proxy.applyListeners([
    listener('a', 0, [{ name: 'a', filters: [tcpProxyFilter('backend')] }]),
    listener('b', 0, [{ name: 'b', filters: [tcpProxyFilter('backend')] }], extra),
    listener('tls', 0, [
      { name: 'tls', transportSocket: downstreamTls({ requireClientCert: false, ca: '' }), filters: [tcpProxyFilter('backend')] },
    ]),
  ]);
  return { ...r, echo, p: (n: string) => port(r.proxy, n) };
}

/** A connection proven open by one echoed message; closed after the test. */
async function openConnection(t: T, p: number): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port: p });
  t.after(() => {
    s.destroy();
  });
  s.on('error', () => {
    /* checked through echo() */
  });
  await echo(s, 'hello');
  return s;
}

function echo(s: net.Socket, msg: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (c: Buffer): void => {
      got += c.toString();
      if (got === msg) {
        cleanup();
        resolve();
      }
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error(`connection closed before "${msg}" came back`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no echo of "${msg}"`));
    }, 5000);
    const cleanup = (): void => {
      clearTimeout(timer);
      s.off('data', onData);
      s.off('close', onClose);
    };
    s.on('data', onData);
    s.once('close', onClose);
    s.write(msg);
  });
}

/** Connects and reports what the proxy did: 'refused' (closed without a byte) or 'served' (echoed). */
function attempt(p: number, o: { tls?: boolean } = {}): Promise<'refused' | 'served'> {
  return new Promise((resolve) => {
    const s: net.Socket = o.tls
      ? tls.connect({ host: '127.0.0.1', port: p, rejectUnauthorized: false }, () => s.write('x'))
      : net.connect({ host: '127.0.0.1', port: p }, () => s.write('x'));
    let data = false;
    s.on('data', () => {
      data = true;
      s.destroy();
    });
    s.on('error', () => {
      /* a refused TLS client sees a reset or an early close */
    });
    s.on('close', () => resolve(data ? 'served' : 'refused'));
    setTimeout(() => s.destroy(), 5000);
  });
}

test('a listener at its connection limit refuses new connections at accept, counts downstream_cx_overflow, keeps the open ones', async (t) => {
  const { proxy, echo: upstream, logs, p } = await limitedProxy(t, { connectionLimits: { listeners: { a: 2 } } });
  const open = [await openConnection(t, p('a')), await openConnection(t, p('a'))];
  assert.equal(await attempt(p('a')), 'refused');
  assert.equal(await attempt(p('a')), 'refused');
  assert.equal(await metric(proxy, 'meshgate_proxy_downstream_cx_overflow_total', { listener: 'a' }), 2);
  assert.equal(await metric(proxy, 'meshgate_proxy_downstream_refused_total', { listener: 'a', reason: 'listener_connection_limit' }), 2);
  assert.equal(upstream.accepted(), 2, 'no upstream connection for a refused one');
  assert.equal(logs.length, 0, 'refusals at accept write no access log line');
  assert.equal(await attempt(p('b')), 'served', 'another listener is not limited by this one');
  for (const s of open) await echo(s, 'still here');
  open[0]!.destroy();
  await waitFor(async () => (await attempt(p('a'))) === 'served', 3000, 'a free slot after one connection closed');
});

test('the global limit counts connections over all listeners and refuses before any TLS handshake', async (t) => {
  const { proxy, logs, p } = await limitedProxy(
    t,
    { connectionLimits: { globalDownstreamMaxConnections: 2 } },
    { ignoreGlobalConnLimit: true },
  );
  const open = [await openConnection(t, p('a')), await openConnection(t, p('a'))];
  assert.equal(await attempt(p('tls'), { tls: true }), 'refused');
  assert.equal(await attempt(p('a')), 'refused');
  assert.equal(await metric(proxy, 'meshgate_proxy_downstream_global_cx_overflow_total', { listener: 'tls' }), 1);
  assert.equal(await metric(proxy, 'meshgate_proxy_downstream_global_cx_overflow_total', { listener: 'a' }), 1);
  assert.equal(await metric(proxy, 'meshgate_proxy_tls_handshake_failures_total'), 0, 'the refused TLS client cost no handshake');
  assert.equal(await metric(proxy, 'meshgate_proxy_global_downstream_connections'), 2);
  assert.equal(await metric(proxy, 'meshgate_proxy_global_downstream_max_connections'), 2);
  assert.equal(await metric(proxy, 'meshgate_proxy_overload_global_downstream_max_connections_pressure'), 1);
  assert.equal(await attempt(p('b')), 'served', 'a listener with ignoreGlobalConnLimit is not refused');
  await waitFor(() => logs.length === 1, 3000, 'the access log line of the served connection');
  assert.equal(logs[0]!.listener, 'b', 'only the served connection is access-logged');
  for (const s of open) await echo(s, 'still here');
});

test('limits changed at runtime (admin /runtime_modify) apply to new connections; open ones are never dropped', async (t) => {
  const { proxy, p } = await limitedProxy(t, { connectionLimits: { listeners: { a: 3 } } });
  const admin = await startAdmin(proxy, { address: '127.0.0.1', port: 0 });
  t.after(() => admin.close());
  const modify = async (q: string): Promise<{ status: number; text: string }> => {
    const r = await fetch(`http://127.0.0.1:${admin.port}/runtime_modify?${q}`, { method: 'POST' });
    return { status: r.status, text: await r.text() };
  };
  const open = [await openConnection(t, p('a')), await openConnection(t, p('a')), await openConnection(t, p('a'))];
  assert.equal((await modify('envoy.resource_limits.listener.a.connection_limit=1')).status, 200);
  for (const s of open) await echo(s, 'kept after lowering');
  assert.equal(await attempt(p('a')), 'refused');
  assert.equal((await modify('overload.global_downstream_max_connections=3')).status, 200);
  assert.equal(await attempt(p('b')), 'refused', 'the lowered global limit applies');
  for (const s of open) await echo(s, 'kept at the global limit');
  const bad = await modify('envoy.resource_limits.listener.a.connection_limit=-1');
  assert.equal(bad.status, 400);
  assert.match(bad.text, /not a non-negative integer/);
  assert.match((await modify('some.other.key=1')).text, /unknown runtime key/);
  assert.equal(
    (await modify('envoy.resource_limits.listener.a.connection_limit=&overload.global_downstream_max_connections=100')).status,
    200,
  );
  assert.equal(await attempt(p('a')), 'served', 'an empty value removes the listener limit');
  const rt = (await (await fetch(`http://127.0.0.1:${admin.port}/runtime`)).json()) as {
    globalDownstreamMaxConnections: number;
    listeners: Record<string, number>;
  };
  assert.deepEqual(rt, { globalDownstreamMaxConnections: 100, listeners: {} });
});

test('refusals are logged at most once a second per listener, with the count of those not logged', async (t) => {
  const { warnings, p } = await limitedProxy(t, { connectionLimits: { listeners: { a: 0 } } });
  for (let i = 0; i < 5; i++) assert.equal(await attempt(p('a')), 'refused');
  const lines = (): string[] => warnings.filter((w) => w.includes('listener connection limit (0) reached'));
  assert.equal(lines().length, 1, lines().join('\n'));
  assert.match(lines()[0]!, /^listener "a": connection from 127\.0\.0\.1:\d+ refused: listener connection limit \(0\) reached$/);
  await waitFor(() => lines().length === 2, 3000, 'the line reporting the suppressed refusals');
  assert.match(lines()[1]!, /\(4 more refused since the last line\)$/);
});

test('the default global limit is 50,000, lowered to what the descriptor limit carries', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshgate-limits-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (soft: string): string => {
    const f = path.join(dir, `limits-${soft}`);
    writeFileSync(
      f,
      `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${soft}                 ${soft}                 files\n`,
    );
    return f;
  };
  assert.equal(defaultGlobalDownstreamMaxConnections(file('1024')), 384);
  assert.equal(defaultGlobalDownstreamMaxConnections(file('1048576')), DEFAULT_GLOBAL_DOWNSTREAM_MAX_CONNECTIONS);
  assert.equal(defaultGlobalDownstreamMaxConnections(file('unlimited')), 50_000);
  assert.equal(defaultGlobalDownstreamMaxConnections(path.join(dir, 'absent')), 50_000);
});

test('bootstrap connectionLimits are validated with the field named; CLI flags override them listener by listener', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshgate-limits-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const base = [
    'node: { role: sidecar, ips: ["127.0.0.1"], podName: p, namespace: app, serviceAccount: sa }',
    'discoveryAddress: "127.0.0.1:1"',
    'rootCertFile: r',
    'tokenFile: t',
    'trustDomain: cluster.local',
  ];
  const load = (extra: string): ReturnType<typeof loadBootstrap> => {
    const f = path.join(dir, `b${Math.random()}.yaml`);
    writeFileSync(f, [...base, extra, ''].join('\n'));
    return loadBootstrap(f);
  };
  await assert.rejects(
    load('connectionLimits: { listeners: { "0.0.0.0_3306": -1 } }'),
    /connectionLimits\.listeners\.0\.0\.0\.0_3306: must be a non-negative integer/,
  );
  await assert.rejects(load('connectionLimits: { maxConnections: 5 }'), /connectionLimits\.maxConnections: unknown field/);
  const b = await load('connectionLimits: { globalDownstreamMaxConnections: 1000, listeners: { "0.0.0.0_3306": 10, virtualInbound: 20 } }');
  assert.deepEqual(b.connectionLimits, { globalDownstreamMaxConnections: 1000, listeners: { '0.0.0.0_3306': 10, virtualInbound: 20 } });
  assert.deepEqual(
    connectionLimitsFromFlags(
      { bootstrap: 'x', globalDownstreamMaxConnections: 500, listenerConnectionLimit: ['0.0.0.0_3306=5'] },
      b.connectionLimits,
    ),
    {
      globalDownstreamMaxConnections: 500,
      listeners: { '0.0.0.0_3306': 5, virtualInbound: 20 },
    },
  );
  assert.equal(connectionLimitsFromFlags({ bootstrap: 'x' }, undefined), undefined);
  // Bad flag values are refused while parsing, before anything starts.
  for (const [flag, value, re] of [
    ['--listener-connection-limit', 'virtualInbound', /is not NAME=N/],
    ['--listener-connection-limit', 'a=-1', /is not NAME=N/],
    ['--global-downstream-max-connections', 'many', /is not a non-negative integer/],
  ] as const) {
    const program = new Command().exitOverride().configureOutput({
      writeErr: () => {
        /* asserted below */
      },
    });
    registerProxyCommand(program);
    for (const c of program.commands)
      c.exitOverride().configureOutput({
        writeErr: () => {
          /* asserted below */
        },
      });
    await assert.rejects(program.parseAsync(['node', 'meshgate', 'proxy', '--bootstrap', 'none.yaml', flag, value]), re);
  }
});

test('a connection handed over by a useOriginalDst listener is held to the limit of the listener that serves it', async (t) => {
  const upstream = await echoServer(t);
  const virtual = `0.0.0.0_${upstream.port}`;
  const r = newProxy(t, {
    originalDestination: () => ({ address: '127.0.0.1', port: upstream.port }),
    connectionLimits: { listeners: { [virtual]: 1 } },
  });
  r.proxy.applyClusters([staticCluster('echo', [{ port: upstream.port }])]);
  await r.proxy.applyListeners([
    listener('virtualOutbound', 0, [], {
      useOriginalDst: true,
      defaultFilterChain: { name: 'passthrough', filters: [tcpProxyFilter('echo')] },
    }),
    listener(virtual, upstream.port, [{ name: 'echo-chain', filters: [tcpProxyFilter('echo')] }], {
      bindToPort: false,
      address: { socketAddress: { address: '0.0.0.0', portValue: upstream.port } },
    }),
  ]);
  const p = port(r.proxy, 'virtualOutbound');
  const open = await openConnection(t, p);
  assert.equal(await attempt(p), 'refused');
  assert.equal(await metric(r.proxy, 'meshgate_proxy_downstream_cx_overflow_total', { listener: virtual }), 1);
  assert.equal(await metric(r.proxy, 'meshgate_proxy_downstream_cx_overflow_total', { listener: 'virtualOutbound' }), 0);
  assert.equal(upstream.accepted(), 1);
  await echo(open, 'still here');
});
