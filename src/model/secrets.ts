// Gateway credentials over SDS, as Istio's secret controller serves them: Secret NAME in the gateway's
// namespace becomes `kubernetes://NAME` (certificate and key) and, when it carries a CA — or a separate
// Secret `NAME-cacert` exists —, `kubernetes://NAME-cacert` (validation context). The keys are read in
// Istio's order by pki's readCredentialSecret (`cert`/`key` before `tls.crt`/`tls.key`, `cacert` before
// `ca.crt`), which also refuses a key that does not belong to its certificate.
import type { ConfigSnapshot, Secret as KubeSecret } from '../config/types.js';
import { CredentialError, readCredentialSecret, type Credential } from '../pki/credential-secret.js';
import type { ProxyNode } from '../envoy/node.js';
import { TypeUrl, type Cluster, type Listener, type Secret } from '../envoy/envoy-types.js';
import { referencedSecrets } from '../envoy/resource-refs.js';
import { CACERT_SUFFIX, CREDENTIAL_PREFIX, SDS_DEFAULT, SDS_ROOTCA } from './tls-context.js';
import { identityMayHoldCredentials, type ModelOptions, type WorkloadIdentity } from './gateway-identity.js';

function findSecret(snapshot: ConfigSnapshot, namespace: string, name: string): KubeSecret | undefined {
  return snapshot.secrets.find((s) => s.metadata.namespace === namespace && s.metadata.name === name);
}

function inline(pem: string): { inlineBytes: string } {
  return { inlineBytes: Buffer.from(pem, 'utf8').toString('base64') };
}

export interface CredentialProblem {
  secret: string;
  code: string;
  message: string;
}

/**
 * Reads credential NAME in a namespace. An unusable Secret yields no resources and a problem: the
 * gateway chain then waits for its SDS resource (as Envoy does for a missing secret) instead of
 * serving with the wrong key, and the control plane can report why.
 */
export function readCredential(
  snapshot: ConfigSnapshot,
  namespace: string,
  credentialName: string,
): { credential?: Credential; problem?: CredentialProblem } {
  const base = findSecret(snapshot, namespace, credentialName);
  const caSecret = findSecret(snapshot, namespace, `${credentialName}${CACERT_SUFFIX}`);
  const primary = base ?? caSecret;
  if (!primary)
    return {
      problem: {
        secret: `${namespace}/${credentialName}`,
        code: 'E_CREDENTIAL_MISSING',
        message: `secret ${namespace}/${credentialName} does not exist`,
      },
    };
  const companion = base ? caSecret : undefined;
  let byCompanion = credentialsRead.get(primary);
  if (!byCompanion) credentialsRead.set(primary, (byCompanion = new Map()));
  let r = byCompanion.get(companion ?? NO_COMPANION);
  if (!r) byCompanion.set(companion ?? NO_COMPANION, (r = readUncached(primary, companion)));
  return r;
}

/**
 * What each Secret (with its `-cacert` companion, if any) yields, kept as long as the Secret objects live.
 * Config snapshots keep unchanged objects across versions, and a gateway's builders ask for a credential
 * several times per generation: without this every generation parses and checks every credential again,
 * and a rotated one is read once instead of once per question.
 */
const credentialsRead = new WeakMap<
  KubeSecret,
  Map<KubeSecret | typeof NO_COMPANION, { credential?: Credential; problem?: CredentialProblem }>
>();
const NO_COMPANION = Symbol('no companion');

function readUncached(primary: KubeSecret, companion: KubeSecret | undefined): { credential?: Credential; problem?: CredentialProblem } {
  try {
    return { credential: readCredentialSecret(primary, companion) };
  } catch (err) {
    if (err instanceof CredentialError) return { problem: { secret: err.secret, code: err.code, message: err.message } };
    throw err;
  }
}

/**
 * The SDS resources a credential name yields in a namespace: `kubernetes://NAME` when it has a
 * certificate and key, `kubernetes://NAME-cacert` when it (or `NAME-cacert`) has a CA.
 */
export function credentialSecrets(snapshot: ConfigSnapshot, namespace: string, credentialName: string): Secret[] {
  const cred = readCredential(snapshot, namespace, credentialName).credential;
  if (!cred) return [];
  const out: Secret[] = [];
  if (cred.certChainPem && cred.privateKeyPem) {
    out.push({
      name: `${CREDENTIAL_PREFIX}${credentialName}`,
      tlsCertificate: { certificateChain: inline(cred.certChainPem), privateKey: inline(cred.privateKeyPem) },
    });
  }
  if (cred.caPem) {
    out.push({
      name: `${CREDENTIAL_PREFIX}${credentialName}${CACERT_SUFFIX}`,
      validationContext: { trustedCa: inline(cred.caPem), ...(cred.crlPem ? { crl: inline(cred.crlPem) } : {}) },
    });
  }
  return out;
}

/** The SDS resources a change to Secret NAME can alter: its own credential and its CA (also when NAME is itself a `-cacert` companion). */
export function sdsNamesOfSecret(name: string): string[] {
  return [`${CREDENTIAL_PREFIX}${name}`, `${CREDENTIAL_PREFIX}${name}${CACERT_SUFFIX}`];
}

/** Every SDS resource name generated listeners and clusters refer to (proxy-local ones excluded). */
export function referencedSecretNames(resources: { listeners: readonly Listener[]; clusters: readonly Cluster[] }): string[] {
  const names = new Set<string>();
  for (const l of resources.listeners) for (const n of referencedSecrets(TypeUrl.Listener, l)) names.add(n);
  for (const c of resources.clusters) for (const n of referencedSecrets(TypeUrl.Cluster, c)) names.add(n);
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

/**
 * The `kubernetes://` Secrets a gateway's listeners and clusters refer to, from its own namespace. The
 * caller has decided that this gateway may hold them (ModelContext.mayHoldCredentials).
 */
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
 * Whether the control plane may hand `resourceName` to this proxy over SDS, whether or not it exists
 * (what exists and is usable is the builders' business). `default` and `ROOTCA` are the proxy's own
 * (its agent serves them); a `kubernetes://` credential goes only to a gateway (router) whose proven
 * identity may hold its own namespace's credentials (gateway-identity.ts) — never to a sidecar, never
 * another namespace's (`kubernetes://ns/name`), and never on the strength of what the node claims:
 * `identity` is what the stream proved.
 */
export function proxyMayReadSecret(
  snapshot: ConfigSnapshot,
  node: ProxyNode,
  identity: WorkloadIdentity,
  resourceName: string,
  opts: ModelOptions = {},
): boolean {
  if (resourceName === SDS_DEFAULT || resourceName === SDS_ROOTCA) return true;
  if (!resourceName.startsWith(CREDENTIAL_PREFIX)) return false;
  if (node.role !== 'router') return false;
  if (resourceName.slice(CREDENTIAL_PREFIX.length).includes('/')) return false;
  // A gateway reads its own namespace's Secrets: the proven namespace, whatever the node says.
  return identityMayHoldCredentials(snapshot, identity, identity.namespace, opts);
}

export interface CredentialAvailability {
  /** `kubernetes://NAME` can be served (certificate and key). */
  cert: boolean;
  /** `kubernetes://NAME-cacert` can be served. */
  ca: boolean;
  problem?: string;
}

/** What a credential name yields in a namespace, so builders reference only SDS resources that exist. */
export function credentialAvailability(snapshot: ConfigSnapshot, namespace: string, credentialName: string): CredentialAvailability {
  const name = credentialName.startsWith(CREDENTIAL_PREFIX) ? credentialName.slice(CREDENTIAL_PREFIX.length) : credentialName;
  const r = readCredential(snapshot, namespace, name);
  const cert = Boolean(r.credential?.certChainPem && r.credential.privateKeyPem);
  const ca = Boolean(r.credential?.caPem);
  return { cert, ca, ...(r.problem ? { problem: r.problem.message } : {}) };
}
