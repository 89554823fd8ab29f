// `meshgate ca`: the custom root CA toolkit (the seed's root CA R for the gateway-to-gateway leg).
// Parsing and printing only; the work is in src/pki (custom-ca.ts, secret-manifest.ts, verify.ts).
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { parseKeyAlgorithm, publicKeyPemOf, keyMatchesPublicKey } from '../pki/keys.js';
import { parseCertificate, describePublicKey, type CertificateInfo } from '../pki/certificate.js';
import { parsePemBlocks, derToPem, splitPemBundle } from '../pki/pem.js';
import { parseCrl, type CrlInfo } from '../pki/crl.js';
import { verifyChain, type VerifyResult } from '../pki/verify.js';
import { readCredentialSecret } from '../pki/credential-secret.js';
import { buildCredentialSecrets, pairCredentialSecrets, parseSecretDocuments } from '../pki/secret-manifest.js';
import { DurationError, parseDurationNs } from '../shared/duration.js';
import { outputHelp, parseOutputFormat, renderStructured } from './output-format.js';
import {
  createRootCa,
  issueLeaf,
  revokeCertificates,
  rotateLeaf,
  LEAF_CA_FILE,
  LEAF_CERT_FILE,
  LEAF_KEY_FILE,
  ROOT_CERT_FILE,
  ROOT_KEY_FILE,
} from '../pki/custom-ca.js';

export class CliUsageError extends Error {
  readonly code = 'E_USAGE';
}

/** Go-style durations as istioctl takes them (`87600h`, `90m`, `30s`), plus days (`30d`) and bare seconds;
 * whole seconds, through the one duration parser every layer shares. */
export function parseDuration(text: string): number {
  let ns: bigint;
  try {
    ns = parseDurationNs(text, 'flag');
  } catch (err) {
    if (!(err instanceof DurationError)) throw err;
    throw new CliUsageError(`"${text}" is not a duration (e.g. 87600h, 30d, 90m, 3600s)`);
  }
  const secs = Number(ns / 1_000_000_000n);
  if (secs <= 0) throw new CliUsageError(`duration "${text}" must be positive`);
  return secs;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
const out = (s: string): void => void process.stdout.write(s);

function certSummary(i: CertificateInfo): Record<string, unknown> {
  return {
    subject: i.subject,
    issuer: i.issuer,
    serial: i.serialHex,
    notBefore: i.notBefore.toISOString(),
    notAfter: i.notAfter.toISOString(),
    dns: i.dns,
    uris: i.uris,
    ips: i.ips,
    isCa: i.isCa,
    keyUsage: i.keyUsage,
    extKeyUsage: i.extKeyUsage,
    publicKey: i.publicKeyAlgorithm,
    fingerprintSha256: i.fingerprintSha256,
  };
}

function certTable(i: CertificateInfo, indent = '  '): string {
  const left = i.notAfter.getTime() - Date.now();
  const when =
    left < 0 ? 'EXPIRED' : left < 86400_000 ? `expires in ${Math.round(left / 3600_000)}h` : `expires in ${Math.round(left / 86400_000)}d`;
  const sans = [...i.dns.map((d) => `DNS:${d}`), ...i.uris.map((u) => `URI:${u}`), ...i.ips.map((a) => `IP:${a}`)].join(', ');
  const rows: [string, string][] = [
    ['subject', i.subject || '(empty)'],
    ['SANs', sans || '(none)'],
    ['issuer', i.issuer],
    ['serial', i.serialHex],
    ['not before', i.notBefore.toISOString()],
    ['not after', `${i.notAfter.toISOString()} (${when})`],
    ['CA', i.isCa ? `yes${i.pathLength !== undefined ? ` (pathlen ${i.pathLength})` : ''}` : 'no'],
    ['key usage', i.keyUsage.join(', ') || '(none)'],
    ['ext key usage', i.extKeyUsage.join(', ') || '(none)'],
    ['public key', i.publicKeyAlgorithm],
    ['sha256', i.fingerprintSha256],
  ];
  return rows.map(([k, v]) => `${indent}${(k + ':').padEnd(15)}${v}\n`).join('');
}

function verifySummary(r: VerifyResult, against: string): Record<string, unknown> {
  return r.ok
    ? { against, ok: true, path: r.path.map((p) => p.subject || p.uris[0] || p.serialHex) }
    : { against, ok: false, code: r.code, reason: r.reason };
}

const INSPECT_FORMATS = ['short', 'json', 'yaml'] as const;
const SECRET_FORMATS = ['yaml', 'json'] as const;

function print(format: string, value: unknown, table: () => string): void {
  const f = parseOutputFormat(format, INSPECT_FORMATS, 'ca inspect');
  out(f === 'short' ? table() : renderStructured(value, f));
}

async function readFileText(file: string): Promise<string> {
  return readFile(file, 'utf8');
}

interface InspectOptions {
  bundle?: string;
  crl?: string[];
  usage?: 'server' | 'client';
  output: string;
}

async function inspect(file: string, opts: InspectOptions): Promise<boolean> {
  const text = await readFileText(file);
  const bundle = opts.bundle ? await readFileText(opts.bundle) : undefined;
  const crls = await Promise.all((opts.crl ?? []).map(readFileText));
  const vopts = { ...(crls.length ? { crlPems: crls } : {}), ...(opts.usage ? { usage: opts.usage } : {}) };
  let allOk = true;
  if (!text.trimStart().startsWith('-----BEGIN')) {
    // A Secret manifest (YAML or JSON, one or more documents).
    const pairs = pairCredentialSecrets(parseSecretDocuments(text, file));
    if (pairs.length === 0) throw new CliUsageError(`${file} holds neither PEM blocks nor a Kubernetes Secret`);
    const results = pairs.map(({ secret, cacert }) => {
      const cred = readCredentialSecret(secret, cacert);
      const chain = cred.certChainPem ? splitPemBundle(cred.certChainPem).map((p) => parseCertificate(p)) : [];
      const ca = cred.caPem ? splitPemBundle(cred.caPem).map((p) => parseCertificate(p)) : [];
      const crl = cred.crlPem ? parseCrl(splitPemBundle(cred.crlPem, 'X509 CRL')[0] as string) : undefined;
      const trust = bundle ?? cred.caPem;
      let verify: Record<string, unknown> | undefined;
      if (cred.certChainPem && trust) {
        const crlPems = [...(vopts.crlPems ?? []), ...(cred.crlPem ? [cred.crlPem] : [])];
        const r = verifyChain([cred.certChainPem], [trust], { ...vopts, ...(crlPems.length ? { crlPems } : {}) });
        if (!r.ok) allOk = false;
        verify = verifySummary(r, bundle ? (opts.bundle as string) : `the CA in ${cacert ? cacert.metadata.name : secret.metadata.name}`);
      }
      return {
        secret: `${secret.metadata.namespace}/${secret.metadata.name}`,
        ...(cacert ? { cacertSecret: `${cacert.metadata.namespace}/${cacert.metadata.name}` } : {}),
        type: secret.type ?? 'Opaque',
        keys: Object.keys(secret.data).sort(),
        certificates: chain.map(certSummary),
        privateKey: cred.privateKeyPem
          ? { algorithm: describePublicKey(publicKeyPemOf(cred.privateKeyPem)), matchesCertificate: true }
          : undefined,
        ca: ca.map(certSummary),
        ...(crl ? { crl: crlSummary(crl) } : {}),
        ...(verify ? { verify } : {}),
        _chain: chain,
        _ca: ca,
      };
    });
    print(
      opts.output,
      results.map(({ _chain, _ca, ...r }) => {
        void _chain;
        void _ca;
        return r;
      }),
      () =>
        results
          .map((r) => {
            let s = `Secret ${r.secret}${r.cacertSecret ? ` (+ ${r.cacertSecret})` : ''}, type ${r.type}, keys: ${r.keys.join(', ')}\n`;
            r._chain.forEach((c, i) => {
              s += `certificate ${i + 1} of ${r._chain.length}:\n${certTable(c)}`;
            });
            if (r.privateKey) s += `private key: ${r.privateKey.algorithm}, matches the certificate (not shown)\n`;
            r._ca.forEach((c, i) => {
              s += `CA certificate ${i + 1} of ${r._ca.length}:\n${certTable(c)}`;
            });
            if (r.crl) s += crlTable(r.crl);
            if (r.verify) s += verifyLine(r.verify);
            return s;
          })
          .join('\n'),
    );
    return allOk;
  }

  const blocks = parsePemBlocks(text, file);
  const certs = blocks.filter((b) => b.label === 'CERTIFICATE').map((b) => parseCertificate(derToPem(b.der, 'CERTIFICATE'), file));
  const crlInfos = blocks.filter((b) => b.label === 'X509 CRL').map((b) => parseCrl(derToPem(b.der, 'X509 CRL'), file));
  const keys = blocks
    .filter((b) => /PRIVATE KEY$/.test(b.label))
    .map((b) => {
      const pem = derToPem(b.der, b.label);
      const pub = publicKeyPemOf(pem);
      const match = certs.findIndex((c) => keyMatchesPublicKey(pem, c.publicKeyPem));
      return { algorithm: describePublicKey(pub), matchesCertificate: match >= 0 ? match + 1 : null };
    });
  const unknown = blocks.filter((b) => !['CERTIFICATE', 'X509 CRL'].includes(b.label) && !/PRIVATE KEY$/.test(b.label)).map((b) => b.label);
  if (unknown.length) throw new CliUsageError(`${file}: cannot inspect PEM blocks labelled ${unknown.join(', ')}`);
  let verify: Record<string, unknown> | undefined;
  if (bundle !== undefined) {
    if (certs.length === 0) throw new CliUsageError(`${file} has no certificate to verify`);
    const r = verifyChain(
      certs.map((c) => c.pem),
      [bundle],
      vopts,
    );
    allOk = r.ok;
    verify = verifySummary(r, opts.bundle as string);
  }
  const value = {
    file,
    certificates: certs.map(certSummary),
    ...(keys.length ? { privateKeys: keys } : {}),
    ...(crlInfos.length ? { crls: crlInfos.map(crlSummary) } : {}),
    ...(verify ? { verify } : {}),
  };
  print(opts.output, value, () => {
    let s = '';
    certs.forEach((c, i) => {
      s += `certificate ${i + 1} of ${certs.length} (${file}):\n${certTable(c)}`;
    });
    keys.forEach((k) => {
      s += `private key: ${k.algorithm}${k.matchesCertificate ? `, matches certificate ${k.matchesCertificate}` : ''} (not shown)\n`;
    });
    crlInfos.forEach((c) => {
      s += crlTable(crlSummary(c));
    });
    if (verify) s += verifyLine(verify);
    return s;
  });
  return allOk;
}

function crlSummary(c: CrlInfo): { issuer: string; thisUpdate: string; nextUpdate?: string; revokedSerials: string[] } {
  return {
    issuer: c.issuer,
    thisUpdate: c.thisUpdate.toISOString(),
    ...(c.nextUpdate ? { nextUpdate: c.nextUpdate.toISOString() } : {}),
    revokedSerials: c.revokedSerials,
  };
}

function crlTable(c: ReturnType<typeof crlSummary>): string {
  return `CRL from ${c.issuer}, this update ${c.thisUpdate}, next update ${c.nextUpdate ?? '(none)'}\n  revoked: ${c.revokedSerials.join(', ') || '(none)'}\n`;
}

function verifyLine(v: Record<string, unknown>): string {
  return v.ok
    ? `verify against ${String(v.against)}: OK (${(v.path as string[]).join(' <- ')})\n`
    : `verify against ${String(v.against)}: FAILED [${String(v.code)}] ${String(v.reason)}\n`;
}

function leafReport(label: string, dir: string, leaf: CertificateInfo, bundle: CertificateInfo[]): string {
  return `${label} ${dir}/${LEAF_CERT_FILE} (key ${dir}/${LEAF_KEY_FILE}, 0600; trust bundle ${dir}/${LEAF_CA_FILE} with ${bundle.length} root(s))\n${certTable(leaf)}`;
}

export function registerCaCommands(program: Command): void {
  const ca = program
    .command('ca')
    .description(
      'Custom root CA toolkit: create a root, issue, package as Kubernetes Secrets, inspect, rotate and revoke gateway credentials.',
    );

  ca.command('create-root')
    .description(`Create a self-signed root CA in DIR (${ROOT_CERT_FILE}, ${ROOT_KEY_FILE}; files 0600, the key is never printed).`)
    .requiredOption('--name <cn>', 'common name of the root, e.g. "Example Org Root CA R"')
    .option('--org <o>', 'organisation (O=)')
    .option('--ttl <duration>', 'lifetime', '87600h')
    .option('--key-alg <alg>', 'ec-p256, rsa-2048 or rsa-3072', 'ec-p256')
    .option('--force', 'overwrite an existing CA key')
    .requiredOption('--out <dir>', 'directory to write')
    .action(async (o: { name: string; org?: string; ttl: string; keyAlg: string; force?: boolean; out: string }) => {
      const info = await createRootCa({
        dir: o.out,
        name: o.name,
        ...(o.org ? { org: o.org } : {}),
        ttlSeconds: parseDuration(o.ttl),
        keyAlgorithm: parseKeyAlgorithm(o.keyAlg),
        force: Boolean(o.force),
      });
      out(`created root CA ${o.out}/${ROOT_CERT_FILE} (key ${o.out}/${ROOT_KEY_FILE}, 0600)\n${certTable(info)}`);
    });

  ca.command('issue')
    .description(
      `Issue a leaf certificate from the root in --ca; writes ${LEAF_CERT_FILE}, ${LEAF_KEY_FILE} and ${LEAF_CA_FILE} (0600) to --out.`,
    )
    .requiredOption('--ca <dir>', 'root CA directory (from ca create-root)')
    .option('--dns <name>', 'DNS subjectAltName (repeatable)', collect)
    .option('--uri <uri>', 'URI subjectAltName, e.g. a SPIFFE ID (repeatable)', collect)
    .option('--ip <address>', 'IP subjectAltName (repeatable)', collect)
    .option('--name <cn>', 'common name (default: the first SAN)')
    .option('--usage <usage>', 'server, client or both', 'both')
    .option('--ttl <duration>', 'lifetime', '2160h')
    .option('--key-alg <alg>', 'ec-p256, rsa-2048 or rsa-3072', 'ec-p256')
    .requiredOption('--out <dir>', 'directory to write')
    .action(
      async (o: {
        ca: string;
        dns?: string[];
        uri?: string[];
        ip?: string[];
        name?: string;
        usage: string;
        ttl: string;
        keyAlg: string;
        out: string;
      }) => {
        if (!['server', 'client', 'both'].includes(o.usage))
          throw new CliUsageError(`--usage must be server, client or both, not "${o.usage}"`);
        const { leaf, bundle } = await issueLeaf({
          caDir: o.ca,
          outDir: o.out,
          ...(o.name ? { name: o.name } : {}),
          dns: o.dns ?? [],
          uris: o.uri ?? [],
          ips: o.ip ?? [],
          usage: o.usage as 'server' | 'client' | 'both',
          ttlSeconds: parseDuration(o.ttl),
          keyAlgorithm: parseKeyAlgorithm(o.keyAlg),
        });
        out(leafReport('issued', o.out, leaf, bundle));
      },
    );

  ca.command('secret')
    .description(
      'Print a Kubernetes Secret manifest in a format Istio reads for credentialName (generic tls.crt/tls.key/ca.crt by default).',
    )
    .requiredOption('--name <name>', 'secret name, the Gateway/DestinationRule credentialName')
    .option('--namespace <ns>', "namespace (the gateway's own)", 'istio-system')
    .option('--cert <file>', 'certificate chain PEM (leaf first)')
    .option('--key <file>', 'private key PEM')
    .option('--cacert <file>', 'CA bundle PEM to trust peers with')
    .option('--crl <file>', 'CRL PEM (ca.crl)')
    .option('--type <type>', 'generic, or tls for a kubernetes.io/tls secret plus <name>-cacert', 'generic')
    .option('-o, --output <format>', outputHelp(SECRET_FORMATS), 'yaml')
    .action(
      async (o: {
        name: string;
        namespace: string;
        cert?: string;
        key?: string;
        cacert?: string;
        crl?: string;
        type: string;
        output: string;
      }) => {
        const format = parseOutputFormat(o.output, SECRET_FORMATS, 'ca secret');
        if (o.type !== 'generic' && o.type !== 'tls') throw new CliUsageError(`--type must be generic or tls, not "${o.type}"`);
        const read = async (f?: string): Promise<string | undefined> => (f ? readFileText(f) : undefined);
        const [certChainPem, privateKeyPem, caPem, crlPem] = await Promise.all([read(o.cert), read(o.key), read(o.cacert), read(o.crl)]);
        const manifests = buildCredentialSecrets({
          name: o.name,
          namespace: o.namespace,
          type: o.type,
          ...(certChainPem ? { certChainPem } : {}),
          ...(privateKeyPem ? { privateKeyPem } : {}),
          ...(caPem ? { caPem } : {}),
          ...(crlPem ? { crlPem } : {}),
        });
        // Read back exactly as a gateway will, so a mismatched key or a garbage file fails here, not at handshake time.
        for (const { secret, cacert } of pairCredentialSecrets(parseSecretDocuments(manifests.map((m) => stringify(m)).join('---\n'))))
          readCredentialSecret(secret, cacert);
        if (format === 'json')
          out(JSON.stringify(manifests.length === 1 ? manifests[0] : { apiVersion: 'v1', kind: 'List', items: manifests }, null, 2) + '\n');
        else out(manifests.map((m) => stringify(m)).join('---\n'));
      },
    );

  ca.command('inspect')
    .description(
      'Show subject, SANs, issuer, serial, validity and fingerprint of a PEM file or Secret manifest; with --bundle, verify the chain.',
    )
    .argument('<file>', 'PEM file (certificates, keys, CRLs) or Secret YAML/JSON')
    .option('--bundle <file>', 'trusted root bundle to verify the chain against (exit 1 if it does not verify)')
    .option('--crl <file>', 'CRL to check revocation against (repeatable)', collect)
    .option('--usage <usage>', 'check the leaf is usable as a server or client certificate')
    .option('-o, --output <format>', outputHelp(INSPECT_FORMATS), 'short')
    .action(async (file: string, o: InspectOptions) => {
      parseOutputFormat(o.output, INSPECT_FORMATS, 'ca inspect');
      if (o.usage && o.usage !== 'server' && o.usage !== 'client')
        throw new CliUsageError(`--usage must be server or client, not "${String(o.usage)}"`);
      if (!(await inspect(file, o))) process.exitCode = 1;
    });

  ca.command('rotate')
    .description(
      'Issue a fresh key and leaf with the same names and usage as --from; with --new-root, from a new root and with a bundle trusting old and new.',
    )
    .requiredOption('--ca <dir>', 'the current root CA directory')
    .requiredOption('--from <dir>', 'credential directory of the certificate being replaced')
    .requiredOption('--out <dir>', 'directory to write the new credential to (may equal --from)')
    .option('--ttl <duration>', "lifetime (default: the old certificate's)")
    .option('--new-root <dir>', 'sign with this root instead (created if missing); ca.pem then trusts both roots')
    .option('--new-root-name <cn>', 'common name for a root created by --new-root')
    .action(async (o: { ca: string; from: string; out: string; ttl?: string; newRoot?: string; newRootName?: string }) => {
      const res = await rotateLeaf({
        caDir: o.ca,
        fromDir: o.from,
        outDir: o.out,
        ...(o.ttl ? { ttlSeconds: parseDuration(o.ttl) } : {}),
        ...(o.newRoot ? { newRootDir: o.newRoot } : {}),
        ...(o.newRootName ? { newRootName: o.newRootName } : {}),
      });
      if (res.createdRoot) out(`created new root CA ${o.newRoot as string}/${ROOT_CERT_FILE}\n${certTable(res.createdRoot)}`);
      out(leafReport('rotated', o.out, res.leaf, res.bundle));
    });

  ca.command('revoke')
    .description('Revoke certificates issued by --ca and write a fresh CRL (the ca.crl/crl key of a credential secret).')
    .requiredOption('--ca <dir>', 'root CA directory')
    .option('--cert <file>', 'certificate to revoke (repeatable)', collect)
    .option('--serial <hex>', 'serial number to revoke (repeatable)', collect)
    .option('--ttl <duration>', 'how long the CRL is valid (next update)', '168h')
    .option('--out <file>', 'where to write the CRL (default: <ca>/crl.pem)')
    .action(async (o: { ca: string; cert?: string[]; serial?: string[]; ttl: string; out?: string }) => {
      const serials = [...(o.serial ?? [])];
      for (const f of o.cert ?? [])
        serials.push(parseCertificate(splitPemBundle(await readFileText(f), 'CERTIFICATE', f)[0] as string, f).serialHex);
      const res = await revokeCertificates({ caDir: o.ca, serials, ttlSeconds: parseDuration(o.ttl), ...(o.out ? { out: o.out } : {}) });
      out(`wrote CRL ${res.crlPath} revoking ${res.revokedSerials.length} certificate(s): ${res.revokedSerials.join(', ') || '(none)'}\n`);
    });
}
