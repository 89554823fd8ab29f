// The proxy's secret store: SDS secrets from the control plane (`kubernetes://...` credentials) and the
// agent's local secrets `default` (workload certificate and key) and `ROOTCA` (mesh trust bundle), as
// Envoy gets them from pilot-agent's SDS server. Each secret carries a version that changes whenever
// its content does, so TLS contexts can be rebuilt once per version and reused across connections.
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { DataSource, Secret } from '../envoy/envoy-types.js';
import { ProxyConfigError } from './errors.js';
import { checkTlsFields } from './tls-fields.js';

export interface StoredSecret {
  name: string;
  version: number;
  source: 'sds' | 'local';
  raw: Secret;
  certChainPem?: string;
  privateKeyPem?: string;
  trustedCaPem?: string;
  crlPem?: string;
}

/** Reads an Envoy DataSource into a string; throws ProxyConfigError naming the field. */
export function readDataSource(ds: DataSource | undefined, resource: string, field: string): string | undefined {
  if (ds === undefined) return undefined;
  if (typeof ds !== 'object' || ds === null) throw new ProxyConfigError(resource, field, 'must be a DataSource object');
  if (typeof ds.inlineString === 'string') return ds.inlineString;
  if (typeof ds.inlineBytes === 'string') return Buffer.from(ds.inlineBytes, 'base64').toString('utf8');
  if (typeof ds.filename === 'string') {
    try {
      return readFileSync(ds.filename, 'utf8');
    } catch (err) {
      throw new ProxyConfigError(resource, `${field}.filename`, `cannot read "${ds.filename}": ${(err as Error).message}`);
    }
  }
  throw new ProxyConfigError(resource, field, 'needs one of inlineString, inlineBytes, filename');
}

/** Reads an Envoy DataSource as bytes (key material); throws ProxyConfigError naming the field. */
export function readDataSourceBytes(ds: DataSource | undefined, resource: string, field: string): Buffer {
  if (ds === undefined || ds === null || typeof ds !== 'object') throw new ProxyConfigError(resource, field, 'must be a DataSource object');
  if (typeof ds.inlineBytes === 'string') return Buffer.from(ds.inlineBytes, 'base64');
  if (typeof ds.inlineString === 'string') return Buffer.from(ds.inlineString, 'utf8');
  if (typeof ds.filename === 'string') {
    try {
      return readFileSync(ds.filename);
    } catch (err) {
      throw new ProxyConfigError(resource, `${field}.filename`, `cannot read "${ds.filename}": ${(err as Error).message}`);
    }
  }
  throw new ProxyConfigError(resource, field, 'needs one of inlineString, inlineBytes, filename');
}

/** Validates a Secret resource and returns its PEM material (certificates parsed once to catch garbage). */
export function compileSecret(s: Secret, source: 'sds' | 'local'): Omit<StoredSecret, 'version'> {
  if (!s || typeof s.name !== 'string' || s.name === '') throw new ProxyConfigError('secret', 'name', 'must be a non-empty string');
  const res = `secret "${s.name}"`;
  const out: Omit<StoredSecret, 'version'> = { name: s.name, source, raw: s };
  // A field the proxy would drop (a key password, pinned hashes, SAN matchers sent over SDS) is refused.
  checkTlsFields('Secret', s, res, '');
  checkTlsFields('TlsCertificate', s.tlsCertificate, res, 'tlsCertificate');
  checkTlsFields('SecretValidationContext', s.validationContext, res, 'validationContext');
  if (s.tlsCertificate) {
    out.certChainPem = readDataSource(s.tlsCertificate.certificateChain, res, 'tlsCertificate.certificateChain');
    out.privateKeyPem = readDataSource(s.tlsCertificate.privateKey, res, 'tlsCertificate.privateKey');
    if (!out.certChainPem) throw new ProxyConfigError(res, 'tlsCertificate.certificateChain', 'is required');
    if (!out.privateKeyPem) throw new ProxyConfigError(res, 'tlsCertificate.privateKey', 'is required');
    parsePemCertificates(out.certChainPem, res, 'tlsCertificate.certificateChain');
  }
  if (s.validationContext) {
    out.trustedCaPem = readDataSource(s.validationContext.trustedCa, res, 'validationContext.trustedCa');
    if (out.trustedCaPem) parsePemCertificates(out.trustedCaPem, res, 'validationContext.trustedCa');
    out.crlPem = readDataSource(s.validationContext.crl, res, 'validationContext.crl');
  }
  // Build a TLS context once now, so a key that does not match its certificate or an unreadable CRL is
  // an xDS rejection (NACK) instead of a failure on the first connection.
  try {
    if (out.certChainPem) tls.createSecureContext({ cert: out.certChainPem, key: out.privateKeyPem });
  } catch (err) {
    throw new ProxyConfigError(res, 'tlsCertificate.privateKey', `unusable with the certificate chain: ${(err as Error).message}`);
  }
  try {
    if (out.trustedCaPem) tls.createSecureContext({ ca: out.trustedCaPem, crl: out.crlPem });
  } catch (err) {
    throw new ProxyConfigError(
      res,
      out.crlPem ? 'validationContext.crl' : 'validationContext.trustedCa',
      `unusable: ${(err as Error).message}`,
    );
  }
  if (!s.tlsCertificate && !s.validationContext && !s.genericSecret) {
    throw new ProxyConfigError(res, 'tlsCertificate', 'a secret needs tlsCertificate, validationContext or genericSecret');
  }
  return out;
}

const PEM_RE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function parsePemCertificates(pem: string, resource: string, field: string): X509Certificate[] {
  const blocks = pem.match(PEM_RE) ?? [];
  if (blocks.length === 0) throw new ProxyConfigError(resource, field, 'contains no PEM certificate');
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new ProxyConfigError(resource, `${field}[${i}]`, `not a valid certificate: ${(err as Error).message}`);
    }
  });
}

export class SecretStore {
  private readonly secrets = new Map<string, StoredSecret>();
  private nextVersion = 1;
  /** Bumped on every change; TLS contexts compare it before looking at individual versions. */
  generation = 0;

  get(name: string): StoredSecret | undefined {
    return this.secrets.get(name);
  }

  all(): StoredSecret[] {
    return [...this.secrets.values()];
  }

  /** Validates every secret first, then stores them all (all or nothing). Returns the names that changed. */
  apply(list: Secret[], source: 'sds' | 'local'): string[] {
    if (!Array.isArray(list)) throw new ProxyConfigError('secrets', '(update)', 'must be a list of Secret');
    const compiled = list.map((s) => compileSecret(s, source));
    const changed: string[] = [];
    for (const c of compiled) {
      const prev = this.secrets.get(c.name);
      if (prev && JSON.stringify(prev.raw) === JSON.stringify(c.raw)) continue;
      this.secrets.set(c.name, { ...c, version: this.nextVersion++ });
      changed.push(c.name);
    }
    if (changed.length > 0) this.generation++;
    return changed;
  }

  remove(names: string[]): void {
    let any = false;
    for (const n of names) any = this.secrets.delete(n) || any;
    if (any) this.generation++;
  }
}
