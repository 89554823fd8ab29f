// tls_inspector's ClientHello parsing and filter-chain selection with Envoy's precedence, without sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { inspectClientHello, MAX_CLIENT_HELLO } from '../../src/proxy/tls-inspector.js';
import { compileChainMatch, selectFilterChain, type ConnectionFacts } from '../../src/proxy/filter-chain-match.js';
import type { FilterChainMatch } from '../../src/envoy/envoy-types.js';

/** The ClientHello Node's TLS client sends, captured from a real socket pair. */
async function captureClientHello(opts: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const got = new Promise<Buffer>((resolve) =>
      server.once('connection', (s) => {
        const parts: Buffer[] = [];
        s.on('data', (d: Buffer) => {
          parts.push(d);
          const all = Buffer.concat(parts);
          if (inspectClientHello(all).kind !== 'need-more') {
            s.destroy();
            resolve(all);
          }
        });
      }),
    );
    const c = tls.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, ...opts });
    c.on('error', () => {
      /* the server hangs up after the ClientHello */
    });
    const b = await got;
    c.destroy();
    return b;
  } finally {
    server.close();
  }
}

test('tls_inspector reads SNI and ALPN from a real ClientHello, at any split point', async () => {
  const hello = await captureClientHello({ servername: 'mysql.fqdn.example', ALPNProtocols: ['istio-peer-exchange', 'istio'] });
  const r = inspectClientHello(hello);
  assert.equal(r.kind, 'tls');
  assert.ok(r.kind === 'tls');
  assert.equal(r.serverName, 'mysql.fqdn.example');
  assert.deepEqual(r.alpn, ['istio-peer-exchange', 'istio']);
  for (const cut of [1, 2, 5, 9, 50, hello.length - 1])
    assert.equal(inspectClientHello(hello.subarray(0, cut)).kind, 'need-more', `cut at ${cut}`);
});

test('tls_inspector: a ClientHello split over two TLS records is reassembled', async () => {
  const hello = await captureClientHello({ servername: 'a.example.com' });
  const body = hello.subarray(5);
  const half = 40;
  const rec = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, b.length >> 8, b.length & 0xff]), b]);
  const split = Buffer.concat([rec(body.subarray(0, half)), rec(body.subarray(half))]);
  const r = inspectClientHello(split);
  assert.ok(r.kind === 'tls' && r.serverName === 'a.example.com');
});

test('tls_inspector: plaintext and garbage are raw; an oversized ClientHello is refused without buffering it', () => {
  assert.equal(inspectClientHello(Buffer.from('SELECT 1')).kind, 'raw');
  assert.equal(inspectClientHello(Buffer.from([0x16, 0x99])).kind, 'raw');
  assert.equal(inspectClientHello(Buffer.from('GET / HTTP/1.1\r\n')).kind, 'raw');
  const big = Buffer.alloc(20);
  big.set([0x16, 0x03, 0x01, 0x40, 0x00, 0x01]);
  big.writeUIntBE(MAX_CLIENT_HELLO + 1, 6, 3);
  assert.equal(inspectClientHello(big).kind, 'too-large');
});

const facts = (f: Partial<ConnectionFacts>): ConnectionFacts => ({
  destinationIp: '10.0.0.1',
  destinationPort: 443,
  sourceIp: '10.0.0.9',
  sourcePort: 40000,
  directSourceIp: '10.0.0.9',
  serverName: '',
  transportProtocol: 'tls',
  applicationProtocols: [],
  ...f,
});
const chains = (ms: (FilterChainMatch | undefined)[]) => ms.map((m, i) => compileChainMatch(m, 'listener "t"', `filterChains[${i}]`));

test('filter chains: exact server name beats the longest wildcard, which beats a shorter one and no name', () => {
  const cs = chains([{}, { serverNames: ['*.example.com'] }, { serverNames: ['*.b.example.com'] }, { serverNames: ['a.b.example.com'] }]);
  assert.equal(selectFilterChain(cs, facts({ serverName: 'a.b.example.com' })), 3);
  assert.equal(selectFilterChain(cs, facts({ serverName: 'x.b.example.com' })), 2);
  assert.equal(selectFilterChain(cs, facts({ serverName: 'x.example.com' })), 1);
  assert.equal(selectFilterChain(cs, facts({ serverName: 'other.org' })), 0);
  assert.equal(selectFilterChain(cs, facts({ serverName: '' })), 0);
  assert.equal(
    selectFilterChain(chains([{ serverNames: ['*.example.com'] }]), facts({ serverName: 'example.com' })),
    -1,
    '*. needs a label',
  );
});

test('filter chains: destination port is decided first and never backtracks (Envoy walks a tree)', () => {
  const cs = chains([{ serverNames: ['db.example'] }, { destinationPort: 3306, serverNames: ['other.example'] }]);
  assert.equal(selectFilterChain(cs, facts({ destinationPort: 3306, serverName: 'db.example' })), -1);
  assert.equal(selectFilterChain(cs, facts({ destinationPort: 5432, serverName: 'db.example' })), 0);
});

test('filter chains: longest destination prefix, then transport protocol, then ALPN, then source', () => {
  const cs = chains([
    { prefixRanges: [{ addressPrefix: '10.0.0.0', prefixLen: 8 }] },
    { prefixRanges: [{ addressPrefix: '10.0.0.0', prefixLen: 24 }], transportProtocol: 'tls', applicationProtocols: ['istio'] },
    { prefixRanges: [{ addressPrefix: '10.0.0.0', prefixLen: 24 }], transportProtocol: 'tls' },
    { prefixRanges: [{ addressPrefix: '10.0.0.0', prefixLen: 24 }], transportProtocol: 'raw_buffer' },
    {
      prefixRanges: [{ addressPrefix: '10.0.0.0', prefixLen: 24 }],
      transportProtocol: 'raw_buffer',
      sourcePrefixRanges: [{ addressPrefix: '10.0.0.9', prefixLen: 32 }],
    },
  ]);
  assert.equal(selectFilterChain(cs, facts({ applicationProtocols: ['istio'] })), 1);
  assert.equal(selectFilterChain(cs, facts({ applicationProtocols: ['h2'] })), 2);
  assert.equal(selectFilterChain(cs, facts({ transportProtocol: 'raw_buffer' })), 4);
  assert.equal(selectFilterChain(cs, facts({ transportProtocol: 'raw_buffer', sourceIp: '10.0.0.8' })), 3);
  assert.equal(selectFilterChain(cs, facts({ destinationIp: '10.9.0.1' })), 0);
  assert.equal(selectFilterChain(cs, facts({ destinationIp: '192.168.0.1' })), -1);
});
