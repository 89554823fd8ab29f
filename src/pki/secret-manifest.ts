// Kubernetes Secret manifests for gateway credentials, in the shapes Istio reads (see
// credential-secret.ts): a generic secret with tls.crt/tls.key/ca.crt[/ca.crl], or a
// kubernetes.io/tls secret plus a `<name>-cacert` secret holding the CA (and CRL).
import { parseAllDocuments } from 'yaml';
import type { CredentialSecret } from './credential-secret.js';

export interface SecretManifest {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { name: string; namespace: string };
  type: string;
  data: Record<string, string>;
}

export class SecretManifestError extends Error {
  readonly code = 'E_SECRET_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'SecretManifestError';
  }
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

export function buildCredentialSecrets(opts: {
  name: string;
  namespace: string;
  type?: 'generic' | 'tls';
  certChainPem?: string;
  privateKeyPem?: string;
  caPem?: string;
  crlPem?: string;
}): SecretManifest[] {
  const meta = (name: string) => ({ name, namespace: opts.namespace });
  if ((opts.certChainPem === undefined) !== (opts.privateKeyPem === undefined))
    throw new SecretManifestError('a certificate needs its key and a key its certificate (--cert and --key together)');
  if (opts.type === 'tls') {
    if (opts.certChainPem === undefined || opts.privateKeyPem === undefined)
      throw new SecretManifestError('a kubernetes.io/tls secret needs --cert and --key');
    const out: SecretManifest[] = [
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: meta(opts.name),
        type: 'kubernetes.io/tls',
        data: { 'tls.crt': b64(opts.certChainPem), 'tls.key': b64(opts.privateKeyPem) },
      },
    ];
    if (opts.caPem !== undefined) {
      const data: Record<string, string> = { 'ca.crt': b64(opts.caPem) };
      if (opts.crlPem !== undefined) data['ca.crl'] = b64(opts.crlPem);
      out.push({ apiVersion: 'v1', kind: 'Secret', metadata: meta(`${opts.name}-cacert`), type: 'Opaque', data });
    } else if (opts.crlPem !== undefined) {
      throw new SecretManifestError('with --type tls the CRL travels in the <name>-cacert secret, which needs --cacert');
    }
    return out;
  }
  const data: Record<string, string> = {};
  if (opts.certChainPem !== undefined) data['tls.crt'] = b64(opts.certChainPem);
  if (opts.privateKeyPem !== undefined) data['tls.key'] = b64(opts.privateKeyPem);
  if (opts.caPem !== undefined) data['ca.crt'] = b64(opts.caPem);
  if (opts.crlPem !== undefined) data['ca.crl'] = b64(opts.crlPem);
  if (Object.keys(data).length === 0) throw new SecretManifestError('nothing to put in the secret: give --cert/--key and/or --cacert');
  return [{ apiVersion: 'v1', kind: 'Secret', metadata: meta(opts.name), type: 'Opaque', data }];
}

/** Decodes the Secret objects of a (multi-document) YAML or JSON text; other kinds are skipped. */
export function parseSecretDocuments(text: string, source = 'input'): CredentialSecret[] {
  const out: CredentialSecret[] = [];
  const docs = parseAllDocuments(text);
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length > 0) throw new SecretManifestError(`${source}: ${doc.errors[0]?.message ?? 'invalid YAML'}`);
    const o = doc.toJS() as {
      kind?: unknown;
      metadata?: { name?: unknown; namespace?: unknown };
      type?: unknown;
      data?: Record<string, unknown>;
      stringData?: Record<string, unknown>;
    } | null;
    if (!o || o.kind !== 'Secret') continue;
    const name = typeof o.metadata?.name === 'string' ? o.metadata.name : undefined;
    if (!name) throw new SecretManifestError(`${source}: a Secret without metadata.name`);
    const data: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries(o.data ?? {})) {
      if (typeof v !== 'string' || !/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(v))
        throw new SecretManifestError(`${source}: Secret ${name} data.${k} is not base64`);
      data[k] = Buffer.from(v, 'base64');
    }
    for (const [k, v] of Object.entries(o.stringData ?? {})) data[k] = Buffer.from(String(v), 'utf8');
    const secret: CredentialSecret = {
      metadata: { name, namespace: typeof o.metadata?.namespace === 'string' ? o.metadata.namespace : 'default' },
      data,
    };
    if (typeof o.type === 'string') secret.type = o.type;
    out.push(secret);
  }
  return out;
}

/** Pairs each credential secret with its `<name>-cacert` companion from the same namespace. */
export function pairCredentialSecrets(secrets: CredentialSecret[]): { secret: CredentialSecret; cacert?: CredentialSecret }[] {
  const byKey = new Map(secrets.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]));
  const out: { secret: CredentialSecret; cacert?: CredentialSecret }[] = [];
  for (const s of secrets) {
    const isCompanion =
      s.metadata.name.endsWith('-cacert') && byKey.has(`${s.metadata.namespace}/${s.metadata.name.slice(0, -'-cacert'.length)}`);
    if (isCompanion) continue;
    const cacert = byKey.get(`${s.metadata.namespace}/${s.metadata.name}-cacert`);
    out.push(cacert ? { secret: s, cacert } : { secret: s });
  }
  return out;
}
