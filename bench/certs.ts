// Certificates for the benchmark's hand-built chains: three trust chains as in the seed's path (mesh CA A
// inside cluster A, the organisation's root R between the gateways, mesh CA B inside cluster B), ECDSA
// P-256 everywhere, one leaf per TLS endpoint. The HAProxy chain and the TLS probes use these; the
// meshgate chain gets its own from its control planes' mesh CAs and the lab's gateway credentials, with
// the same key type. Made with the `openssl` command until `src/pki` lands (@peculiar/x509 needs a
// reflect-metadata polyfill that is not installed).
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface BenchCa {
  name: string;
  certPem: string;
  keyPem: string;
}

export interface BenchLeaf {
  certPem: string;
  keyPem: string;
  /** As Node's `getPeerCertificate().serialNumber` prints it: upper-case hex without leading zeros. */
  serialHex: string;
}

export interface BenchCertificates {
  meshA: BenchCa;
  root: BenchCa;
  meshB: BenchCa;
  /** Leg 1 client: the client's sidecar, mesh A workload identity. */
  clientSidecar: BenchLeaf;
  /** Leg 1 server: the egress gateway, mesh A identity. */
  egressMesh: BenchLeaf;
  /** Leg 2 client: the egress gateway's R-signed client credential (`client-credential`). */
  egressClient: BenchLeaf;
  /** Leg 2 server: the ingress gateway's R-signed server credential (`mysql-credential`), DNS mysql.fqdn.example. */
  ingressServer: BenchLeaf;
  /** Leg 3 client: the ingress gateway, mesh B identity. */
  ingressMesh: BenchLeaf;
  /** Leg 3 server: the server's sidecar, mesh B workload identity. */
  serverSidecar: BenchLeaf;
}

export const MYSQL_SNI = 'mysql.fqdn.example';
export const TRUST_DOMAIN_A = 'cluster-a.local';
export const TRUST_DOMAIN_B = 'cluster-b.local';

export class CertificateToolError extends Error {
  readonly code = 'E_BENCH_CERT';
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileP('openssl', args, { cwd });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new CertificateToolError(`openssl ${args[0]} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'meshgate-bench-certs-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function createBenchCa(name: string): Promise<BenchCa> {
  return withTempDir(async (dir) => {
    await writeFile(path.join(dir, 'ext.cnf'), [
      '[req]', 'distinguished_name = dn', '[dn]', '[ca]',
      'basicConstraints = critical, CA:true, pathlen:1',
      'keyUsage = critical, keyCertSign, cRLSign',
      'subjectKeyIdentifier = hash', '',
    ].join('\n'));
    await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'ca.key'], dir);
    await openssl(['req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', '7', '-subj', `/O=meshgate-bench/CN=${name}`,
      '-config', 'ext.cnf', '-extensions', 'ca', '-out', 'ca.pem'], dir);
    return { name, certPem: await readFile(path.join(dir, 'ca.pem'), 'utf8'), keyPem: await readFile(path.join(dir, 'ca.key'), 'utf8') };
  });
}

export interface LeafOptions {
  commonName: string;
  dns?: string[];
  uris?: string[];
  usage: 'server' | 'client' | 'both';
  days?: number;
}

export async function issueBenchLeaf(ca: BenchCa, opts: LeafOptions): Promise<BenchLeaf> {
  return withTempDir(async (dir) => {
    const eku = opts.usage === 'server' ? 'serverAuth' : opts.usage === 'client' ? 'clientAuth' : 'serverAuth, clientAuth';
    const sans = [...(opts.dns ?? []).map((d) => `DNS:${d}`), ...(opts.uris ?? []).map((u) => `URI:${u}`)];
    await writeFile(path.join(dir, 'ext.cnf'), [
      'basicConstraints = critical, CA:false',
      'keyUsage = critical, digitalSignature, keyEncipherment',
      `extendedKeyUsage = ${eku}`,
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid',
      ...(sans.length > 0 ? [`subjectAltName = ${sans.join(', ')}`] : []),
      '',
    ].join('\n'));
    await writeFile(path.join(dir, 'ca.pem'), ca.certPem);
    await writeFile(path.join(dir, 'ca.key'), ca.keyPem, { mode: 0o600 });
    await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'leaf.key'], dir);
    await openssl(['req', '-new', '-key', 'leaf.key', '-subj', `/O=meshgate-bench/CN=${opts.commonName}`, '-out', 'leaf.csr'], dir);
    await openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-sha256',
      '-days', String(opts.days ?? 1), '-extfile', 'ext.cnf', '-out', 'leaf.pem'], dir);
    const certPem = await readFile(path.join(dir, 'leaf.pem'), 'utf8');
    return { certPem, keyPem: await readFile(path.join(dir, 'leaf.key'), 'utf8'), serialHex: serialOfPem(certPem) };
  });
}

/** Serial numbers as Node's `getPeerCertificate().serialNumber` prints them: upper-case hex, no leading zeros. */
export function normalizeSerial(hex: string): string {
  return hex.replace(/^0+/, '').toUpperCase();
}

export function serialOfPem(pem: string): string {
  return normalizeSerial(new X509Certificate(pem).serialNumber);
}

const spiffe = (td: string, ns: string, sa: string): string => `spiffe://${td}/ns/${ns}/sa/${sa}`;

/** The R-signed server credential of the ingress gateway; issued again to rotate it. */
export function issueIngressServerCredential(root: BenchCa): Promise<BenchLeaf> {
  return issueBenchLeaf(root, { commonName: MYSQL_SNI, dns: [MYSQL_SNI], usage: 'server' });
}

export async function generateBenchCertificates(): Promise<BenchCertificates> {
  const [meshA, root, meshB] = await Promise.all([createBenchCa('mesh CA A'), createBenchCa('root R'), createBenchCa('mesh CA B')]);
  const [clientSidecar, egressMesh, egressClient, ingressServer, ingressMesh, serverSidecar] = await Promise.all([
    issueBenchLeaf(meshA, { commonName: 'client', uris: [spiffe(TRUST_DOMAIN_A, 'default', 'client')], usage: 'both' }),
    issueBenchLeaf(meshA, {
      commonName: 'istio-egressgateway',
      // HAProxy checks a server's name against the SNI it sent whenever it sends one, and it cannot match
      // a SPIFFE URI; the seed's leg 1 carries SNI mysql.fqdn.example, so the egress leaf names it too.
      dns: [MYSQL_SNI],
      uris: [spiffe(TRUST_DOMAIN_A, 'istio-system', 'istio-egressgateway-service-account')],
      usage: 'both',
    }),
    issueBenchLeaf(root, { commonName: 'mysql-client', dns: ['mysql-client.example'], usage: 'client' }),
    issueIngressServerCredential(root),
    issueBenchLeaf(meshB, {
      commonName: 'istio-ingressgateway',
      uris: [spiffe(TRUST_DOMAIN_B, 'istio-system', 'istio-ingressgateway-service-account')],
      usage: 'both',
    }),
    issueBenchLeaf(meshB, { commonName: 'mysql', uris: [spiffe(TRUST_DOMAIN_B, 'default', 'mysql')], usage: 'both' }),
  ]);
  return { meshA, root, meshB, clientSidecar, egressMesh, egressClient, ingressServer, ingressMesh, serverSidecar };
}
