// Starts the single-hop load's processes: the TLS sink and three relays side by side in front of it —
// the bare Node relay (the reference), meshgate's proxy, and one HAProxy process — each recorded and
// stopped by pid. Everything they read is written into one temp dir, removed at stop.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchCertificates } from '../certs.js';
import { MYSQL_SNI } from '../certs.js';
import { maxConnectionsPerProxy } from '../limits.js';
import { freePorts, waitForPort } from '../ports.js';
import { ProcessGroup, type BenchProcess } from '../processes.js';
import type { HopClientTls } from './loads.js';
import { HOP_HOST, type HopSetup } from './setup.js';

export type RelayKind = 'bare' | 'meshgate' | 'haproxy';
export const RELAYS: readonly RelayKind[] = ['bare', 'meshgate', 'haproxy'];

export interface RunningRelay {
  kind: RelayKind;
  pid: number;
  /** What a client connects to: the relay's port with the client sidecar's credential. */
  client: HopClientTls;
}

export interface HopRig {
  relays: RunningRelay[];
  sinkPid: number;
  stop(): Promise<void>;
}

export class HopRigError extends Error {
  readonly code = 'E_BENCH_HOP_RIG';
}

function script(name: string): { file: string; execArgv: string[] } {
  const self = fileURLToPath(import.meta.url);
  const ext = self.endsWith('.ts') ? '.ts' : '.js';
  return { file: path.join(path.dirname(self), `${name}${ext}`), execArgv: ext === '.ts' ? process.execArgv : [] };
}

/** One HAProxy `listen` section for the hop: TLS 1.3, client certificates required both ways, SNI and name checked. */
export function renderHopHaproxyConfig(o: {
  port: number;
  upstream: { host: string; port: number };
  serverCrt: string;
  serverCa: string;
  clientCrt: string;
  clientCa: string;
  maxconn: number;
}): string {
  return [
    '# meshgate benchmark: HAProxy single hop (egress-gateway shape)',
    'global',
    `  maxconn ${o.maxconn}`,
    '  ssl-default-bind-options ssl-min-ver TLSv1.3',
    '  ssl-default-server-options ssl-min-ver TLSv1.3',
    '',
    'defaults',
    '  mode tcp',
    `  maxconn ${o.maxconn}`,
    '  timeout connect 5s',
    '  timeout client 1h',
    '  timeout server 1h',
    '',
    'listen egress_hop',
    `  bind ${HOP_HOST}:${o.port} ssl crt ${o.serverCrt} ca-file ${o.serverCa} verify required`,
    `  server sink ${o.upstream.host}:${o.upstream.port} ssl crt ${o.clientCrt} ca-file ${o.clientCa} verify required verifyhost ${MYSQL_SNI} sni str(${MYSQL_SNI})`,
    '',
  ].join('\n');
}

async function ready(proc: BenchProcess, port: number): Promise<void> {
  await Promise.race([
    waitForPort(HOP_HOST, port, 15_000),
    proc.exited.then(({ code }) => {
      throw new HopRigError(`${proc.name} exited (code ${code}) before listening: ${proc.output()}`);
    }),
  ]);
}

export async function startHopRig(certs: BenchCertificates, kinds: readonly RelayKind[] = RELAYS): Promise<HopRig> {
  const dir = await mkdtemp(path.join(tmpdir(), 'meshgate-bench-hop-'));
  const group = new ProcessGroup();
  const stop = async (): Promise<void> => {
    await group.stopAll();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const [sinkPort, barePort, meshgatePort, haproxyPort] = (await freePorts(4)) as [number, number, number, number];
    const upstream = { host: HOP_HOST, port: sinkPort };
    const write = async (name: string, text: string): Promise<string> => {
      const f = path.join(dir, name);
      await writeFile(f, text, { mode: 0o600 });
      return f;
    };
    // The sink: root R's ingress credential, trusting R (the relay's client credential).
    const sinkSetup: HopSetup = {
      listenPort: sinkPort,
      upstream,
      sni: MYSQL_SNI,
      downstream: { certPem: certs.ingressServer.certPem, keyPem: certs.ingressServer.keyPem, caPem: certs.root.certPem },
      upstreamTls: { certPem: '', keyPem: '', caPem: '' },
    };
    const relaySetup = (port: number, accessLogPath?: string): HopSetup => ({
      listenPort: port,
      upstream,
      sni: MYSQL_SNI,
      downstream: { certPem: certs.egressMesh.certPem, keyPem: certs.egressMesh.keyPem, caPem: certs.meshA.certPem },
      upstreamTls: { certPem: certs.egressClient.certPem, keyPem: certs.egressClient.keyPem, caPem: certs.root.certPem },
      ...(accessLogPath ? { accessLogPath } : {}),
    });
    const node = (name: string, file: string): BenchProcess => {
      const s = script(name);
      return group.start(name, process.execPath, [...s.execArgv, s.file, file]);
    };
    const sink = node('sink', await write('sink.json', JSON.stringify(sinkSetup)));
    await ready(sink, sinkPort);
    const relays: RunningRelay[] = [];
    const client = (port: number): HopClientTls => ({
      host: HOP_HOST,
      port,
      servername: MYSQL_SNI,
      certPem: certs.clientSidecar.certPem,
      keyPem: certs.clientSidecar.keyPem,
      caPem: certs.meshA.certPem,
    });
    for (const kind of kinds) {
      let proc: BenchProcess;
      let port: number;
      if (kind === 'bare') {
        port = barePort;
        proc = node('bare-relay', await write('bare.json', JSON.stringify(relaySetup(port))));
      } else if (kind === 'meshgate') {
        port = meshgatePort;
        proc = node('meshgate-relay', await write('meshgate.json', JSON.stringify(relaySetup(port, path.join(dir, 'access.log')))));
      } else {
        port = haproxyPort;
        const cfg = renderHopHaproxyConfig({
          port,
          upstream,
          serverCrt: await write('relay-server.pem', certs.egressMesh.certPem + certs.egressMesh.keyPem),
          serverCa: await write('mesh-a-ca.pem', certs.meshA.certPem),
          clientCrt: await write('relay-client.pem', certs.egressClient.certPem + certs.egressClient.keyPem),
          clientCa: await write('root-r-ca.pem', certs.root.certPem),
          maxconn: maxConnectionsPerProxy(),
        });
        proc = group.start('haproxy hop', 'haproxy', ['-db', '-f', await write('haproxy.cfg', cfg)]);
      }
      await ready(proc, port);
      relays.push({ kind, pid: proc.pid, client: client(port) });
    }
    return { relays, sinkPid: sink.pid, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
