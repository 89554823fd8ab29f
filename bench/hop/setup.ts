// What every process of the single-hop load reads: one JSON file (written 0600 into the run's temp dir)
// with the listen port, the upstream, and the PEM material of the egress-gateway shape — mTLS in with
// mesh CA A (client certificate required), mTLS out with the R-signed client credential and SNI
// mysql.fqdn.example to a TLS-terminating sink that requires a client certificate too.
import { readFileSync } from 'node:fs';

export const HOP_HOST = '127.0.0.1';
/** The tcp_proxy-shaped relay's read and write watermarks (meshgate's SOCKET_HIGH_WATER_MARK). */
export const HOP_HIGH_WATER_MARK = 256 * 1024;

export interface HopEndpointPem {
  certPem: string;
  keyPem: string;
  /** The CA the peer's certificate must chain to. */
  caPem: string;
}

export interface HopSetup {
  listenPort: number;
  upstream: { host: string; port: number };
  /** SNI sent upstream (and the DNS SAN the relay requires of the sink). */
  sni: string;
  /** The relay's server side: the egress gateway's mesh credential, trusting mesh CA A. */
  downstream: HopEndpointPem;
  /** The relay's client side: the R-signed client credential, trusting root R. */
  upstreamTls: HopEndpointPem;
  /** meshgate's relay: where its access log goes (json, as the lab's proxies write it). */
  accessLogPath?: string;
}

export function readHopSetup(file: string | undefined): HopSetup {
  if (!file) {
    process.stderr.write('usage: <relay> SETUP.json\n');
    process.exit(2);
  }
  return JSON.parse(readFileSync(file, 'utf8')) as HopSetup;
}
