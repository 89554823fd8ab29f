// Two proxies in a chain, as a client sidecar and a server sidecar: plaintext in, mutual TLS between
// them (client certificate from SDS, CA and SAN checked both ways, session resumption), plaintext out.
// A large transfer both ways at once is byte-identical (hash compared), half-close passes through in
// both directions, and a reader that stops reading bounds what the proxies buffer.
// MESHGATE_PROXY_BIG_MIB=1024 runs the 1 GiB transfer by hand (the suite uses 64 MiB).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import {
  caSecret,
  certSecret,
  downstreamTls,
  echoServer,
  issue,
  listener,
  makeCa,
  newProxy,
  port,
  roundTrip,
  spiffe,
  staticCluster,
  tcpProxyFilter,
  TLS_INSPECTOR,
  upstreamTls,
  uriSan,
  waitFor,
  type Pair,
} from './helpers.js';
import type { Proxy } from '../../src/proxy/proxy.js';

const BIG_MIB = Number(process.env.MESHGATE_PROXY_BIG_MIB ?? 64);

let ca: Pair;
let clientId: Pair;
let serverId: Pair;
before(async () => {
  ca = await makeCa('mesh-ca');
  clientId = await issue(ca, { uris: [spiffe('app', 'client')] });
  serverId = await issue(ca, { uris: [spiffe('db', 'mysql')] });
});

/** client → A (plain listener) → mTLS → B (mTLS listener) → backend. Returns A's listener port. */
async function buildChain(
  t: Parameters<typeof newProxy>[0],
  backendPort: number,
): Promise<{ a: Proxy; b: Proxy; aLogs: ReturnType<typeof newProxy>['logs']; bLogs: ReturnType<typeof newProxy>['logs']; port: number }> {
  const B = newProxy(t);
  B.proxy.setLocalSecret('default', certSecret('default', serverId));
  B.proxy.setLocalSecret('ROOTCA', caSecret('ROOTCA', ca));
  B.proxy.applyClusters([staticCluster('inbound|3306||', [{ port: backendPort }])]);
  await B.proxy.applyListeners([
    listener(
      'virtualInbound',
      0,
      [
        {
          name: 'inbound-mtls',
          filterChainMatch: { transportProtocol: 'tls' },
          transportSocket: downstreamTls({ sans: [uriSan(spiffe('app', 'client'))] }),
          filters: [tcpProxyFilter('inbound|3306||')],
        },
      ],
      { listenerFilters: [TLS_INSPECTOR], trafficDirection: 'INBOUND' },
    ),
  ]);
  const A = newProxy(t);
  A.proxy.setLocalSecret('default', certSecret('default', clientId));
  A.proxy.setLocalSecret('ROOTCA', caSecret('ROOTCA', ca));
  A.proxy.applyClusters([
    staticCluster('outbound|3306||mysql.db.svc.cluster.local', [{ port: port(B.proxy, 'virtualInbound') }], {
      transportSocket: upstreamTls({ sni: 'outbound_.3306_._.mysql.db.svc.cluster.local', sans: [uriSan(spiffe('db', 'mysql'))] }),
    }),
  ]);
  await A.proxy.applyListeners([
    listener('127.0.0.1_3306', 0, [{ filters: [tcpProxyFilter('outbound|3306||mysql.db.svc.cluster.local')] }], {
      trafficDirection: 'OUTBOUND',
    }),
  ]);
  return { a: A.proxy, b: B.proxy, aLogs: A.logs, bLogs: B.logs, port: port(A.proxy, '127.0.0.1_3306') };
}

test(`${BIG_MIB} MiB both ways at once through a two-proxy mutual-TLS chain is byte-identical`, async (t) => {
  const echo = await echoServer(t);
  const { port: p, aLogs, bLogs } = await buildChain(t, echo.port);
  const total = BIG_MIB * 1024 * 1024;
  const chunk = 256 * 1024;
  const sentHash = createHash('sha256');
  const recvHash = createHash('sha256');
  let received = 0;
  const s = net.connect({ host: '127.0.0.1', port: p });
  t.after(() => s.destroy());
  await new Promise((r) => s.once('connect', r));
  const done = new Promise<void>((resolve, reject) => {
    s.on('data', (c: Buffer) => {
      recvHash.update(c);
      received += c.length;
    });
    s.on('end', () => resolve());
    s.on('error', reject);
  });
  let sent = 0;
  while (sent < total) {
    const b = randomBytes(Math.min(chunk, total - sent));
    sentHash.update(b);
    sent += b.length;
    if (!s.write(b)) await new Promise((r) => s.once('drain', r));
  }
  s.end();
  await done;
  assert.equal(received, total, `received ${received} of ${total} bytes`);
  assert.equal(recvHash.digest('hex'), sentHash.digest('hex'), 'what came back differs from what was sent');
  await waitFor(() => aLogs.length === 1 && bLogs.length === 1, 5000, 'access logs on both proxies');
  assert.equal(aLogs[0]!.bytesReceived, total);
  assert.equal(aLogs[0]!.bytesSent, total);
  assert.equal(aLogs[0]!.upstreamPeerPrincipal, spiffe('db', 'mysql'));
  assert.equal(bLogs[0]!.downstreamPeerPrincipal, spiffe('app', 'client'));
  assert.equal(bLogs[0]!.requestedServerName, 'outbound_.3306_._.mysql.db.svc.cluster.local');
});

test('the upstream TLS session is resumed on the next connection (ticket reuse)', async (t) => {
  const echo = await echoServer(t);
  const { port: p, aLogs } = await buildChain(t, echo.port);
  for (let i = 0; i < 3; i++) {
    const r = await roundTrip(p, `q${i}`);
    assert.equal(r.echoed, `q${i}`, JSON.stringify(aLogs.at(-1)));
  }
  await waitFor(() => aLogs.length === 3, 3000, 'three access log lines');
  assert.equal(aLogs[0]!.upstreamTlsSessionReused, false);
  assert.ok(
    aLogs.slice(1).some((l) => l.upstreamTlsSessionReused),
    `later connections resume: ${aLogs.map((l) => l.upstreamTlsSessionReused).join(',')}`,
  );
});

test('half-close passes through both proxies in both directions', async (t) => {
  // The server answers only after the client's FIN, then closes its side; the client reads the answer.
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    let n = 0;
    s.on('data', (c: Buffer) => {
      n += c.length;
    });
    s.on('end', () => {
      s.end(`got ${n} bytes after your FIN`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const { port: p } = await buildChain(t, (server.address() as net.AddressInfo).port);
  const r = await roundTrip(p, Buffer.alloc(100_000, 7));
  assert.equal(r.echoed, 'got 100000 bytes after your FIN');
  // And the other direction: the server finishes first, the client keeps sending after the server's FIN.
  const server2 = net.createServer({ allowHalfOpen: true }, (s) => {
    s.end('server done;');
    const parts: Buffer[] = [];
    s.on('data', (c: Buffer) => parts.push(c));
    s.on('end', () => {
      received2 = Buffer.concat(parts).toString();
    });
  });
  let received2 = '';
  await new Promise<void>((r) => server2.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server2.close(() => r())));
  const chain2 = await buildChain(t, (server2.address() as net.AddressInfo).port);
  const c = net.connect({ host: '127.0.0.1', port: chain2.port, allowHalfOpen: true });
  t.after(() => c.destroy());
  const got: Buffer[] = [];
  c.on('data', (d: Buffer) => got.push(d));
  await new Promise((r) => c.once('end', r));
  assert.equal(Buffer.concat(got).toString(), 'server done;');
  c.end('client still talking after the server FIN');
  await waitFor(() => received2 !== '', 5000, 'server to receive the client data after its own FIN');
  assert.equal(received2, 'client still talking after the server FIN');
});

test('a reader that stops reading bounds what the proxies buffer (backpressure end to end)', async (t) => {
  const stalled: net.Socket[] = [];
  const sink = net.createServer((s) => {
    s.pause();
    stalled.push(s);
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  t.after(
    () =>
      new Promise<void>((r) => {
        for (const s of stalled) s.destroy();
        sink.close(() => r());
      }),
  );
  const { port: p, a, b } = await buildChain(t, (sink.address() as net.AddressInfo).port);
  const s = net.connect({ host: '127.0.0.1', port: p });
  t.after(() => s.destroy());
  s.on('error', () => {
    /* destroyed at the end */
  });
  await new Promise((r) => s.once('connect', r));
  const limit = 512 * 1024 * 1024;
  const block = Buffer.alloc(256 * 1024, 1);
  let written = 0;
  // Write until the socket stays blocked for 500 ms (or an absurd amount went through: the test fails).
  while (written < limit) {
    written += block.length;
    if (!s.write(block)) {
      const drained = await Promise.race([
        new Promise((r) => s.once('drain', () => r(true))),
        new Promise((r) => setTimeout(() => r(false), 500)),
      ]);
      if (!drained) break;
    }
  }
  assert.ok(written < 96 * 1024 * 1024, `the writer was never blocked: ${written} bytes accepted`);
  const aBuf = a.sessionStats().bufferedBytes;
  const bBuf = b.sessionStats().bufferedBytes;
  assert.ok(aBuf <= 4 * 256 * 1024 + 64 * 1024, `proxy A buffers ${aBuf} bytes`);
  assert.ok(bBuf <= 4 * 256 * 1024 + 64 * 1024, `proxy B buffers ${bBuf} bytes`);
});

test('a client that stops reading bounds what the proxies buffer (backpressure in the response direction)', async (t) => {
  // The server writes as fast as it can; the client never reads.
  const block = Buffer.alloc(256 * 1024, 2);
  let serverWritten = 0;
  let serverBlocked = false;
  const firehose = net.createServer((s) => {
    s.on('error', () => {
      /* destroyed at the end */
    });
    const pump = (): void => {
      while (serverWritten < 512 * 1024 * 1024) {
        serverWritten += block.length;
        if (!s.write(block)) {
          serverBlocked = true;
          s.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
  const conns = new Set<net.Socket>();
  firehose.on('connection', (s) => {
    conns.add(s);
  });
  await new Promise<void>((r) => firehose.listen(0, '127.0.0.1', r));
  t.after(
    () =>
      new Promise<void>((r) => {
        for (const s of conns) s.destroy();
        firehose.close(() => r());
      }),
  );
  const { port: p, a, b } = await buildChain(t, (firehose.address() as net.AddressInfo).port);
  const c = net.connect({ host: '127.0.0.1', port: p });
  t.after(() => c.destroy());
  c.on('error', () => {
    /* destroyed at the end */
  });
  c.pause();
  await new Promise((r) => c.once('connect', r));
  // Kernel and proxy buffers fill first; then the server must stay blocked (no progress for 300 ms).
  let last = -1;
  await waitFor(
    async () => {
      await new Promise((r) => setTimeout(r, 300));
      const still = serverBlocked && serverWritten === last;
      last = serverWritten;
      return still;
    },
    15_000,
    'the server to stay blocked by backpressure',
  );
  assert.ok(serverWritten < 96 * 1024 * 1024, `${serverWritten} bytes were accepted from the server`);
  assert.ok(a.sessionStats().bufferedBytes <= 4 * 256 * 1024 + 64 * 1024, `proxy A buffers ${a.sessionStats().bufferedBytes} bytes`);
  assert.ok(b.sessionStats().bufferedBytes <= 4 * 256 * 1024 + 64 * 1024, `proxy B buffers ${b.sessionStats().bufferedBytes} bytes`);
});
