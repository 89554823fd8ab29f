// The control plane's gRPC server limits, checked on the wire: an oversized request ends its call with
// RESOURCE_EXHAUSTED while the server keeps serving others; a client opening more streams on one
// connection than allowed gets the extra ones refused (HTTP/2 REFUSED_STREAM); a connection with no
// call open is closed after the idle limit. The HTTP/2 client for the last two is written by hand, so it
// can do what a well-behaved client library never would.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { ControlPlane } from '../../src/controlplane/control-plane.js';
import { DEFAULT_XDS_SERVER_LIMITS, type XdsServerLimits } from '../../src/controlplane/grpc-server-options.js';
import { AdsClient, DEFAULT_XDS_SERVER_NAME } from '../../src/xds/client/ads-client.js';
import { ADS_METHOD_PATH } from '../../src/xds/discovery.js';
import { TypeUrl } from '../../src/envoy/envoy-types.js';
import { formatNodeId, type ProxyNode } from '../../src/envoy/node.js';
import { TokenIssuer } from '../../src/pki/workload-token.js';
import { startSeedControlPlane } from './seed-config.js';

type T = { after(fn: () => Promise<void> | void): void };

const sidecarBase = {
  role: 'sidecar' as const,
  ips: ['10.10.0.5'],
  podName: 'mysql-client-7d9f6c',
  namespace: 'default',
  serviceAccount: 'mysql-client',
  labels: { app: 'mysql-client' },
  clusterId: 'cluster-a',
  interceptionMode: 'REDIRECT' as const,
  domainSuffix: 'cluster.local',
};
const sidecar: ProxyNode = { ...sidecarBase, id: formatNodeId(sidecarBase) };

function setup(t: T, serverLimits?: Partial<XdsServerLimits>): Promise<{ cp: ControlPlane; tokens: TokenIssuer }> {
  return startSeedControlPlane(t, serverLimits ? { serverLimits } : {});
}

test('an oversized request ends its call with RESOURCE_EXHAUSTED and the server keeps serving other proxies', async (t) => {
  const { cp, tokens } = await setup(t);
  const token = await tokens.mint({ namespace: 'default', serviceAccount: 'mysql-client', ttlSeconds: 600 });
  const client = new grpc.Client(cp.address, grpc.credentials.createSsl(Buffer.from(cp.rootCertPem)), {
    'grpc.ssl_target_name_override': DEFAULT_XDS_SERVER_NAME,
    'grpc.default_authority': DEFAULT_XDS_SERVER_NAME,
  });
  t.after(() => client.close());
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  const call = client.makeBidiStreamRequest(
    ADS_METHOD_PATH,
    (b: Buffer) => b,
    (b: Buffer) => b,
    md,
  );
  call.on('error', () => {
    /* the status below is what is checked */
  });
  const status = new Promise<grpc.StatusObject>((r) => call.on('status', r));
  call.write(Buffer.alloc(DEFAULT_XDS_SERVER_LIMITS.maxReceiveMessageBytes + 1024, 1));
  const s = await status;
  assert.equal(grpc.status[s.code], 'RESOURCE_EXHAUSTED', s.details);
  assert.match(s.details, /larger than max/i);

  let clusters = 0;
  const proxy = new AdsClient({
    address: cp.address,
    rootCertPem: cp.rootCertPem,
    node: sidecar,
    credentials: async () => ({ token: await tokens.mint({ namespace: 'default', serviceAccount: 'mysql-client', ttlSeconds: 600 }) }),
    backoff: { initialMs: 50, maxMs: 300 },
    initialSubscriptions: [{ typeUrl: TypeUrl.Cluster, names: [] }],
    onResources: async (typeUrl, resources) => {
      if (typeUrl === TypeUrl.Cluster) clusters = resources.length;
    },
  });
  t.after(() => proxy.close());
  proxy.start();
  const deadline = Date.now() + 15_000;
  while (clusters === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  assert.ok(clusters > 0, 'another proxy still gets its clusters');
});

// ---- a minimal HTTP/2 client: frames by hand, headers as HPACK literals without indexing (RFC 7541 6.2.2)

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

function literal(name: string, value: string): Buffer {
  const str = (s: string): Buffer => {
    const b = Buffer.from(s);
    assert.ok(b.length < 127);
    return Buffer.concat([Buffer.from([b.length]), b]);
  };
  return Buffer.concat([Buffer.from([0]), str(name), str(value)]);
}

const HEADERS = 0x1,
  RST_STREAM = 0x3,
  SETTINGS = 0x4,
  GOAWAY = 0x7,
  END_HEADERS = 0x4;
const REFUSED_STREAM = 0x7;

interface H2Conn {
  socket: tls.TLSSocket;
  frames: { type: number; stream: number; code?: number }[];
  closed: Promise<void>;
}

async function h2Connect(t: T, cp: ControlPlane): Promise<H2Conn> {
  const [host, port] = [cp.address.slice(0, cp.address.lastIndexOf(':')), Number(cp.address.slice(cp.address.lastIndexOf(':') + 1))];
  const socket = tls.connect({ host, port, ca: cp.rootCertPem, servername: DEFAULT_XDS_SERVER_NAME, ALPNProtocols: ['h2'] });
  t.after(() => {
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  assert.equal(socket.alpnProtocol, 'h2');
  const conn: H2Conn = { socket, frames: [], closed: new Promise((r) => socket.once('close', () => r())) };
  let buf = Buffer.alloc(0);
  socket.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      const type = buf[3]!;
      const stream = buf.readUInt32BE(5) & 0x7fffffff;
      const p = buf.subarray(9, 9 + len);
      conn.frames.push({ type, stream, code: type === RST_STREAM ? p.readUInt32BE(0) : type === GOAWAY ? p.readUInt32BE(4) : undefined });
      buf = buf.subarray(9 + len);
    }
  });
  socket.on('error', () => {
    /* the server may close the connection */
  });
  // The connection preface and our (empty) SETTINGS; the server's SETTINGS are deliberately never acknowledged.
  socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(SETTINGS, 0, 0, Buffer.alloc(0))]));
  return conn;
}

test('more streams on one connection than max_concurrent_streams: the extra one is refused, the others are not', async (t) => {
  const { cp } = await setup(t);
  const conn = await h2Connect(t, cp);
  const n = DEFAULT_XDS_SERVER_LIMITS.maxConcurrentStreams + 1;
  const block = Buffer.concat([
    literal(':method', 'POST'),
    literal(':scheme', 'https'),
    literal(':path', ADS_METHOD_PATH),
    literal(':authority', DEFAULT_XDS_SERVER_NAME),
    literal('content-type', 'application/grpc'),
    literal('te', 'trailers'),
  ]);
  // All streams in one write: open (no END_STREAM), so each still counts when the next arrives.
  const ids = Array.from({ length: n }, (_, i) => 1 + 2 * i);
  conn.socket.write(Buffer.concat(ids.map((id) => frame(HEADERS, END_HEADERS, id, block))));
  const last = ids[ids.length - 1]!;
  const deadline = Date.now() + 5000;
  while (!conn.frames.some((f) => f.type === RST_STREAM && f.stream === last) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  const refused = conn.frames.filter((f) => f.type === RST_STREAM && f.code === REFUSED_STREAM).map((f) => f.stream);
  assert.deepEqual(
    refused,
    [last],
    `only stream ${last} (number ${n}) is refused; RST_STREAM frames: ${JSON.stringify(conn.frames.filter((f) => f.type === RST_STREAM))}`,
  );
  assert.ok(!conn.frames.some((f) => f.type === GOAWAY), 'the connection itself stays up');
});

test('a connection with no call open is closed after the idle limit (GOAWAY)', async (t) => {
  const { cp } = await setup(t, { maxConnectionIdleMs: 300 });
  const conn = await h2Connect(t, cp);
  const deadline = Date.now() + 5000;
  while (!conn.frames.some((f) => f.type === GOAWAY) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok(
    conn.frames.some((f) => f.type === GOAWAY),
    'the idle connection got a GOAWAY',
  );
});
