// Gateway credentials over SDS, as Istio's secret controller serves them: Secret NAME in the gateway's
// namespace becomes `kubernetes://NAME` (certificate and key) and, when it carries a CA — or a separate
// Secret `NAME-cacert` exists —, `kubernetes://NAME-cacert` (validation context). Key names in Istio's
// order: `cert`/`key`/`cacert` (generic), else `tls.crt`/`tls.key`/`ca.crt` (kubernetes.io/tls).
import type { ConfigSnapshot, Secret as KubeSecret } from '../config/types.js';
import type { ProxyNode } from '../xds/node.js';
import type { Secret } from '../xds/envoy-types.js';
import { CACERT_SUFFIX, CREDENTIAL_PREFIX, SDS_DEFAULT, SDS_ROOTCA } from './tls-context.js';

export interface GatewayCredential {
  cert?: Buffer;
  key?: Buffer;
  ca?: Buffer;
  crl?: Buffer;
}

/** Reads a credential Secret (and an optional separate `NAME-cacert` Secret) with Istio's key precedence. */
export function readGatewayCredential(secret: KubeSecret | undefined, cacertSecret?: KubeSecret): GatewayCredential {
  const out: GatewayCredential = {};
  const d = secret?.data ?? {};
  if (d.cert && d.key) {
    out.cert = d.cert;
    out.key = d.key;
    if (d.cacert) out.ca = d.cacert;
  } else if (d['tls.crt'] && d['tls.key']) {
    out.cert = d['tls.crt'];
    out.key = d['tls.key'];
    if (d['ca.crt']) out.ca = d['ca.crt'];
  } else if (d.cacert || d['ca.crt']) {
    out.ca = d.cacert ?? d['ca.crt'];
  }
  if (d['ca.crl']) out.crl = d['ca.crl'];
  const c = cacertSecret?.data;
  if (c && (c.cacert || c['ca.crt'])) out.ca = c.cacert ?? c['ca.crt'];
  if (c?.['ca.crl']) out.crl = c['ca.crl'];
  return out;
}

function findSecret(snapshot: ConfigSnapshot, namespace: string, name: string): KubeSecret | undefined {
  return snapshot.secrets.find((s) => s.metadata.namespace === namespace && s.metadata.name === name);
}

function inline(b: Buffer): { inlineBytes: string } {
  return { inlineBytes: b.toString('base64') };
}

/**
 * The SDS resources a credential name yields in a namespace: `kubernetes://NAME` when it has a
 * certificate and key, `kubernetes://NAME-cacert` when it (or `NAME-cacert`) has a CA.
 */
export function credentialSecrets(snapshot: ConfigSnapshot, namespace: string, credentialName: string): Secret[] {
  const base = findSecret(snapshot, namespace, credentialName);
  const caSecret = findSecret(snapshot, namespace, `${credentialName}${CACERT_SUFFIX}`);
  if (!base && !caSecret) return [];
  const cred = readGatewayCredential(base, caSecret);
  const out: Secret[] = [];
  if (cred.cert && cred.key) {
    out.push({ name: `${CREDENTIAL_PREFIX}${credentialName}`, tlsCertificate: { certificateChain: inline(cred.cert), privateKey: inline(cred.key) } });
  }
  if (cred.ca) {
    out.push({ name: `${CREDENTIAL_PREFIX}${credentialName}${CACERT_SUFFIX}`, validationContext: { trustedCa: inline(cred.ca), ...(cred.crl ? { crl: inline(cred.crl) } : {}) } });
  }
  return out;
}

/** Every SDS resource name a set of generated resources refers to. */
export function referencedSecretNames(resources: unknown): string[] {
  const names = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      for (const x of v) walk(x);
      return;
    }
    if (v === null || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (k === 'tlsCertificateSdsSecretConfigs' && Array.isArray(x)) {
        for (const s of x) names.add((s as { name: string }).name);
      } else if (k === 'validationContextSdsSecretConfig' && x && typeof x === 'object') {
        names.add((x as { name: string }).name);
      } else walk(x);
    }
  };
  walk(resources);
  return [...names].sort();
}

/** The credential name behind a resource name: `kubernetes://a-cacert` is `a`'s CA unless a Secret `a-cacert` is itself a full credential. */
function credentialOf(snapshot: ConfigSnapshot, namespace: string, resourceName: string): string | undefined {
  if (!resourceName.startsWith(CREDENTIAL_PREFIX)) return undefined;
  const name = resourceName.slice(CREDENTIAL_PREFIX.length);
  if (name.endsWith(CACERT_SUFFIX)) {
    const base = name.slice(0, -CACERT_SUFFIX.length);
    if (findSecret(snapshot, namespace, base) || findSecret(snapshot, namespace, name)) return base;
  }
  return name;
}

/** The `kubernetes://` Secrets a gateway's listeners and clusters refer to, from its own namespace. */
export function buildGatewaySecrets(snapshot: ConfigSnapshot, node: ProxyNode, referenced: readonly string[]): Secret[] {
  if (node.role !== 'router') return [];
  const wanted = new Set(referenced.filter((n) => n.startsWith(CREDENTIAL_PREFIX)));
  const out = new Map<string, Secret>();
  for (const n of wanted) {
    const cred = credentialOf(snapshot, node.namespace, n);
    if (!cred) continue;
    for (const s of credentialSecrets(snapshot, node.namespace, cred)) if (wanted.has(s.name)) out.set(s.name, s);
  }
  return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Whether the control plane may hand `resourceName` to this proxy over SDS. `default` and `ROOTCA` are
 * the proxy's own (its agent serves them); a `kubernetes://` credential goes only to a gateway (router)
 * in the Secret's namespace, never to a sidecar — Istio's rule for credentialName.
 */
export function proxyMayReadSecret(snapshot: ConfigSnapshot, node: ProxyNode, resourceName: string): boolean {
  if (resourceName === SDS_DEFAULT || resourceName === SDS_ROOTCA) return true;
  if (!resourceName.startsWith(CREDENTIAL_PREFIX)) return false;
  if (node.role !== 'router') return false;
  const name = resourceName.slice(CREDENTIAL_PREFIX.length);
  if (name.includes('/')) return false; // another namespace's secret (`kubernetes://ns/name`) is never the gateway's own
  const cred = credentialOf(snapshot, node.namespace, resourceName);
  if (!cred) return false;
  return credentialSecrets(snapshot, node.namespace, cred).some((s) => s.name === resourceName);
}
