// The seed's four-proxy path built from Debian's HAProxy, the chain meshgate is measured against:
//   client sidecar  plain TCP in → mTLS out (mesh A identity, SNI mysql.fqdn.example)
//   egress gateway  mTLS in (mesh A, client cert required) → mTLS out (R-signed client cert, SNI, server verified)
//   ingress gateway mTLS in (R, client cert required) → mTLS out (mesh B identity)
//   server sidecar  mTLS in (mesh B, client cert required) → plain TCP to the backend
// TLS 1.3 only, ECDSA P-256, client certificates required and verified on every leg, all on 127.0.0.1.
// HAProxy cannot match a SPIFFE URI SAN, so on the mesh legs the client checks the chain plus a DNS name
// or CN: the SNI on leg 1 (HAProxy checks the name against the SNI it sends), `verifyhost` on leg 3 —
// the closest HAProxy gets to Istio's SAN check.
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BenchCertificates, BenchLeaf } from './certs.js';
import { MYSQL_SNI } from './certs.js';
import { freePorts, waitForPort } from './ports.js';
import { ProcessGroup, type BenchProcess } from './processes.js';
import { maxConnectionsPerProxy } from './limits.js';

export const HAPROXY_HOST = '127.0.0.1';

export interface HaproxyChainLayout {
  dir: string;
  ports: { clientSidecar: number; egress: number; ingress: number; serverSidecar: number };
  backend: { host: string; port: number };
  /** Global `maxconn` of each process; HAProxy raises its soft file limit to fit (never above the hard one). */
  maxconn: number;
  /** `nbthread`; undefined keeps HAProxy's default (one thread per CPU). */
  threads?: number;
}

/** Files every config refers to, relative to the layout's dir. */
export const HAPROXY_FILES = {
  meshA: 'mesh-a-ca.pem',
  root: 'root-r-ca.pem',
  meshB: 'mesh-b-ca.pem',
  clientSidecar: 'client-sidecar.pem',
  egressMesh: 'egress-mesh.pem',
  egressClient: 'egress-client-credential.pem',
  ingressServer: 'ingress-mysql-credential.pem',
  ingressMesh: 'ingress-mesh.pem',
  serverSidecar: 'server-sidecar.pem',
} as const;

export type HaproxyProxyName = 'client-sidecar' | 'egress-gateway' | 'ingress-gateway' | 'server-sidecar';
export const HAPROXY_PROXIES: readonly HaproxyProxyName[] = ['client-sidecar', 'egress-gateway', 'ingress-gateway', 'server-sidecar'];

export function adminSocketPath(dir: string, name: HaproxyProxyName): string {
  return path.join(dir, `${name}.sock`);
}

function globalSection(layout: HaproxyChainLayout, name: HaproxyProxyName): string {
  return [
    'global',
    `  maxconn ${layout.maxconn}`,
    ...(layout.threads !== undefined ? [`  nbthread ${layout.threads}`] : []),
    `  stats socket ${adminSocketPath(layout.dir, name)} mode 600 level admin`,
    '  ssl-default-bind-options ssl-min-ver TLSv1.3',
    '  ssl-default-server-options ssl-min-ver TLSv1.3',
    '',
    'defaults',
    '  mode tcp',
    `  maxconn ${layout.maxconn}`,
    '  timeout connect 5s',
    // Istio's tcp_proxy idle timeout is 1 h; idle-scale runs hold connections for minutes.
    '  timeout client 1h',
    '  timeout server 1h',
    '',
  ].join('\n');
}

/** The four HAProxy configuration files, in path order. Pure: no files written. */
export function renderHaproxyChainConfigs(layout: HaproxyChainLayout): { name: HaproxyProxyName; file: string; text: string }[] {
  const f = (k: keyof typeof HAPROXY_FILES): string => path.join(layout.dir, HAPROXY_FILES[k]);
  const h = HAPROXY_HOST;
  const p = layout.ports;
  const sections: Record<HaproxyProxyName, string[]> = {
    'client-sidecar': [
      'listen outbound_3306',
      `  bind ${h}:${p.clientSidecar}`,
      `  server egressgateway ${h}:${p.egress} ssl crt ${f('clientSidecar')} ca-file ${f('meshA')} verify required sni str(${MYSQL_SNI})`,
    ],
    'egress-gateway': [
      'listen egress_15443',
      `  bind ${h}:${p.egress} ssl crt ${f('egressMesh')} ca-file ${f('meshA')} verify required`,
      `  server mysql_fqdn_example ${h}:${p.ingress} ssl crt ${f('egressClient')} ca-file ${f('root')} verify required verifyhost ${MYSQL_SNI} sni str(${MYSQL_SNI})`,
    ],
    'ingress-gateway': [
      'listen ingress_13306',
      `  bind ${h}:${p.ingress} ssl crt ${f('ingressServer')} ca-file ${f('root')} verify required`,
      `  server mysql ${h}:${p.serverSidecar} ssl crt ${f('ingressMesh')} ca-file ${f('meshB')} verify required verifyhost mysql`,
    ],
    'server-sidecar': [
      'listen inbound_3306',
      `  bind ${h}:${p.serverSidecar} ssl crt ${f('serverSidecar')} ca-file ${f('meshB')} verify required`,
      `  server backend ${layout.backend.host}:${layout.backend.port}`,
    ],
  };
  return HAPROXY_PROXIES.map((name) => ({
    name,
    file: path.join(layout.dir, `${name}.cfg`),
    text: `# meshgate benchmark: HAProxy ${name}\n${globalSection(layout, name)}${sections[name].join('\n')}\n`,
  }));
}

/** HAProxy's `crt` files hold the certificate and its key together. */
function crtFile(leaf: BenchLeaf): string {
  return leaf.certPem + leaf.keyPem;
}

export async function writeHaproxyCertificates(dir: string, certs: BenchCertificates): Promise<void> {
  const files: Record<keyof typeof HAPROXY_FILES, string> = {
    meshA: certs.meshA.certPem,
    root: certs.root.certPem,
    meshB: certs.meshB.certPem,
    clientSidecar: crtFile(certs.clientSidecar),
    egressMesh: crtFile(certs.egressMesh),
    egressClient: crtFile(certs.egressClient),
    ingressServer: crtFile(certs.ingressServer),
    ingressMesh: crtFile(certs.ingressMesh),
    serverSidecar: crtFile(certs.serverSidecar),
  };
  for (const [k, text] of Object.entries(files)) {
    await writeFile(path.join(dir, HAPROXY_FILES[k as keyof typeof HAPROXY_FILES]), text, { mode: 0o600 });
  }
}

export class HaproxyError extends Error {
  readonly code = 'E_BENCH_HAPROXY';
}

/** Sends one command to an HAProxy runtime API socket and returns its answer. */
export function haproxyCommand(socketPath: string, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new HaproxyError(`runtime API ${socketPath}: no answer within ${timeoutMs} ms to "${command.split('\n')[0]}"`));
    }, timeoutMs);
    s.on('connect', () => s.end(command.endsWith('\n') ? command : `${command}\n`));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(new HaproxyError(`runtime API ${socketPath}: ${err.message}`));
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

export interface HaproxyChain {
  /** Where the unmodified client connects (the client sidecar's plain listener). */
  clientTarget: { host: string; port: number };
  /** The ingress gateway's mTLS port (R chain), for rotation probes. */
  ingressTarget: { host: string; port: number };
  layout: HaproxyChainLayout;
  proxies: { name: HaproxyProxyName; pid: number }[];
  /** Path of the ingress gateway's server credential file; writing it (atomically) rotates the credential. */
  ingressCredentialFile: string;
  /** Writes a new ingress credential to disk, as an operator's tooling would. */
  writeIngressCredential(leaf: BenchLeaf): Promise<void>;
  stop(): Promise<void>;
}

export interface StartHaproxyChainOptions {
  certs: BenchCertificates;
  backend: { host: string; port: number };
  maxconn?: number;
  threads?: number;
  /** Watch the ingress credential file and load changes through the runtime API (no restart). */
  watchIngressCredential?: boolean;
}

/**
 * Starts the four HAProxy processes (`haproxy -db -f`), waits for each listener, and returns the chain.
 * Credential rotation: HAProxy does not watch its files, so a watcher here does what an operator's
 * tooling does — on change, `set ssl cert` + `commit ssl cert` over the runtime API, without a restart.
 */
export async function startHaproxyChain(opts: StartHaproxyChainOptions): Promise<HaproxyChain> {
  const dir = await mkdtemp(path.join(tmpdir(), 'meshgate-bench-haproxy-'));
  const group = new ProcessGroup();
  let watcher: FSWatcher | undefined;
  const cleanup = async (): Promise<void> => {
    watcher?.close();
    await group.stopAll();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const [clientSidecar, egress, ingress, serverSidecar] = (await freePorts(4)) as [number, number, number, number];
    const layout: HaproxyChainLayout = {
      dir,
      ports: { clientSidecar, egress, ingress, serverSidecar },
      backend: opts.backend,
      maxconn: opts.maxconn ?? maxConnectionsPerProxy(),
      ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
    };
    await writeHaproxyCertificates(dir, opts.certs);
    const configs = renderHaproxyChainConfigs(layout);
    const procs: BenchProcess[] = [];
    for (const c of configs) {
      await writeFile(c.file, c.text);
      procs.push(group.start(`haproxy ${c.name}`, 'haproxy', ['-db', '-f', c.file]));
    }
    const portOf: Record<HaproxyProxyName, number> = {
      'client-sidecar': clientSidecar,
      'egress-gateway': egress,
      'ingress-gateway': ingress,
      'server-sidecar': serverSidecar,
    };
    await Promise.all(
      configs.map(async (c, i) => {
        const proc = procs[i]!;
        const ready = waitForPort(HAPROXY_HOST, portOf[c.name], 10_000);
        const died = proc.exited.then(({ code }) => {
          throw new HaproxyError(`haproxy ${c.name} exited (code ${code}) before listening: ${proc.output()}`);
        });
        await Promise.race([ready, died]);
      }),
    );
    const ingressCredentialFile = path.join(dir, HAPROXY_FILES.ingressServer);
    if (opts.watchIngressCredential) {
      const socket = adminSocketPath(dir, 'ingress-gateway');
      let loading = Promise.resolve();
      let last = '';
      watcher = watch(dir, (_event, file) => {
        if (file !== HAPROXY_FILES.ingressServer) return;
        loading = loading
          .then(async () => {
            const text = await readFile(ingressCredentialFile, 'utf8');
            if (text === last || !text.includes('PRIVATE KEY')) return;
            last = text;
            const set = await haproxyCommand(socket, `set ssl cert ${ingressCredentialFile} <<\n${text}\n`);
            const commit = await haproxyCommand(socket, `commit ssl cert ${ingressCredentialFile}`);
            if (!/Success/i.test(commit)) throw new HaproxyError(`commit ssl cert failed: ${set.trim()} / ${commit.trim()}`);
          })
          .catch((err: unknown) => {
            process.stderr.write(`bench: HAProxy credential reload failed: ${(err as Error).message}\n`);
          });
      });
    }
    return {
      clientTarget: { host: HAPROXY_HOST, port: clientSidecar },
      ingressTarget: { host: HAPROXY_HOST, port: ingress },
      layout,
      proxies: configs.map((c, i) => ({ name: c.name, pid: procs[i]!.pid })),
      ingressCredentialFile,
      async writeIngressCredential(leaf: BenchLeaf): Promise<void> {
        // Write then rename, as Kubernetes' atomic writer does, so no reader sees half a file.
        const tmp = `${ingressCredentialFile}.tmp`;
        await writeFile(tmp, crtFile(leaf), { mode: 0o600 });
        await rename(tmp, ingressCredentialFile);
      },
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
