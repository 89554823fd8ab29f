// The reference relay of the single-hop load: the least a Node program must do for the egress-gateway
// hop, written for the benchmark — mTLS in (client certificate required), mTLS out with a client
// certificate, SNI and the server verified, stream.pipe both ways with tcp_proxy's 256 KiB watermarks
// and the last TLS session resumed on the next upstream connection. No config, metrics, logs or timers.
// Usage: node bare-relay.js SETUP.json. Prints "listening" when ready.
import tls from 'node:tls';
import { HOP_HIGH_WATER_MARK, HOP_HOST, readHopSetup } from './setup.js';

const setup = readHopSetup(process.argv[2]);
const upstreamContext = tls.createSecureContext({
  cert: setup.upstreamTls.certPem,
  key: setup.upstreamTls.keyPem,
  ca: setup.upstreamTls.caPem,
  minVersion: 'TLSv1.3',
});
let session: Buffer | undefined;

function relay(d: tls.TLSSocket): void {
  // tls.Server gives its sockets Node's 16 KiB default; the relay's other sockets have 256 KiB.
  const states = d as unknown as { _readableState: { highWaterMark: number }; _writableState: { highWaterMark: number } };
  states._readableState.highWaterMark = HOP_HIGH_WATER_MARK;
  states._writableState.highWaterMark = HOP_HIGH_WATER_MARK;
  d.pause();
  const u = tls.connect({
    host: setup.upstream.host,
    port: setup.upstream.port,
    secureContext: upstreamContext,
    servername: setup.sni,
    session,
    highWaterMark: HOP_HIGH_WATER_MARK,
    allowHalfOpen: true,
  } as tls.ConnectionOptions);
  u.on('session', (s: Buffer) => {
    session = s;
  });
  u.setNoDelay(true);
  u.once('secureConnect', () => {
    d.pipe(u);
    u.pipe(d);
    d.resume();
  });
  d.on('error', () => u.destroy());
  u.on('error', () => d.destroy());
  d.on('close', () => u.destroySoon());
  u.on('close', () => d.destroySoon());
}

const server = tls.createServer(
  {
    cert: setup.downstream.certPem,
    key: setup.downstream.keyPem,
    ca: setup.downstream.caPem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
    allowHalfOpen: true,
    highWaterMark: HOP_HIGH_WATER_MARK,
    noDelay: true,
  } as tls.TlsOptions,
  relay,
);
server.on('tlsClientError', () => undefined);
server.maxConnections = 1_000_000;
server.listen({ host: HOP_HOST, port: setup.listenPort, backlog: 1024 }, () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));
