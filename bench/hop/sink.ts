// The single-hop load's far end: a TLS server (root R's ingress credential, client certificate
// required) in its own process. The first byte of each connection picks what it does:
//   'E' echo every byte that follows (churn, idle);
//   'U' discard what follows and, when the peer ends, answer the byte count as 8 bytes (upload);
//   'D' send 256 KiB chunks with backpressure until the peer closes (download).
// Usage: node sink.js SETUP.json (listens on setup.listenPort). Prints "listening" when ready.
import tls from 'node:tls';
import { HOP_HIGH_WATER_MARK, HOP_HOST, readHopSetup } from './setup.js';

const setup = readHopSetup(process.argv[2]);
const CHUNK = Buffer.alloc(HOP_HIGH_WATER_MARK, 0x5a);

function serve(s: tls.TLSSocket): void {
  s.on('error', () => s.destroy()); // a peer that stops measuring resets; nothing to report
  s.once('data', (first: Buffer) => {
    const mode = first[0];
    const rest = first.subarray(1);
    if (mode === 0x45 /* E */) {
      if (rest.length > 0) s.write(rest);
      s.pipe(s);
    } else if (mode === 0x55 /* U */) {
      let n = rest.length;
      s.on('data', (d: Buffer) => {
        n += d.length;
      });
      s.on('end', () => {
        const b = Buffer.alloc(8);
        b.writeBigUInt64BE(BigInt(n));
        s.end(b);
      });
    } else if (mode === 0x44 /* D */) {
      const pump = (): void => {
        while (!s.destroyed && s.write(CHUNK));
      };
      s.on('drain', pump);
      s.on('end', () => s.destroy());
      pump();
    } else s.destroy();
  });
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
  },
  serve,
);
server.on('tlsClientError', () => undefined); // a relay's aborted handshake during shutdown
server.maxConnections = 1_000_000;
server.listen({ host: HOP_HOST, port: setup.listenPort, backlog: 4096 }, () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));
