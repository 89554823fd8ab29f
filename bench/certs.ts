// Certificates for the benchmark's hand-built chains: three trust chains as in the seed's path (mesh CA A
// inside cluster A, the organisation's root R between the gateways, mesh CA B inside cluster B), ECDSA
// P-256 everywhere, one leaf per TLS endpoint. The HAProxy chain and the TLS probes use these; the
// meshgate chain gets its own from its control planes' mesh CAs and the lab's gateway credentials, with
// the same key type. Issued with the project's own PKI (src/pki).
import { X509Certificate } from 'node:crypto';
import { issueCertificate } from '../src/pki/certificate.js';
import { generateKeyPair } from '../src/pki/keys.js';

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

export async function createBenchCa(name: string): Promise<BenchCa> {
  const keys = await generateKeyPair('ec-p256');
  const certPem = await issueCertificate({
    subject: `CN=${name},O=meshgate-bench`,
    publicKeyPem: keys.publicKeyPem,
    issuer: 'self',
    selfPrivateKeyPem: keys.privateKeyPem,
    isCa: true,
    pathLength: 1,
    usage: 'ca',
    ttlSeconds: 7 * 24 * 3600,
  });
  return { name, certPem, keyPem: keys.privateKeyPem };
}

export interface LeafOptions {
  commonName: string;
  dns?: string[];
  uris?: string[];
  usage: 'server' | 'client' | 'both';
  ttlSeconds?: number;
}

export async function issueBenchLeaf(ca: BenchCa, opts: LeafOptions): Promise<BenchLeaf> {
  const keys = await generateKeyPair('ec-p256');
  const certPem = await issueCertificate({
    subject: `CN=${opts.commonName},O=meshgate-bench`,
    publicKeyPem: keys.publicKeyPem,
    issuer: { certPem: ca.certPem, privateKeyPem: ca.keyPem },
    usage: opts.usage,
    dns: opts.dns ?? [],
    uris: opts.uris ?? [],
    ttlSeconds: opts.ttlSeconds ?? 24 * 3600,
  });
  return { certPem, keyPem: keys.privateKeyPem, serialHex: serialOfPem(certPem) };
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
