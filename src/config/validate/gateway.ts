// Istio's ValidateGateway (pkg/config/validation): servers, their ports and their TLS settings.
// Messages are Istio's, so that a user who has seen them from istioctl or the webhook recognises them.
import { parseProtocol } from '../protocol.js';
import { isDns1123Label, type Checker, type Seg } from './report.js';

interface Tls {
  httpsRedirect?: boolean;
  mode?: string;
  serverCertificate?: string;
  privateKey?: string;
  caCertificates?: string;
  caCrl?: string;
  credentialName?: string;
  credentialNames?: string[];
  tlsCertificates?: unknown[];
}
interface Server {
  port: { number: number; protocol: string; name: string; targetPort?: number };
  hosts: string[];
  bind?: string;
  tls?: Tls;
}

const isTlsProtocol = (p: string | undefined): boolean => p === 'HTTPS' || p === 'TLS';
const isHttpProtocol = (p: string | undefined): boolean =>
  p === 'HTTP' || p === 'HTTP2' || p === 'GRPC' || p === 'GRPC-WEB' || p === 'HTTP_PROXY';

export function checkGateway(c: Checker, name: string, spec: Record<string, unknown>): void {
  // Gateway names are referenced as `namespace/name` from VirtualServices: a DNS label, no dots.
  if (!isDns1123Label(name)) c.error(['metadata', 'name'], `invalid gateway name: ${JSON.stringify(name)}`);
  const servers = (spec.servers ?? []) as Server[];
  const names = new Set<string>();
  servers.forEach((s, i) => {
    const at: Seg[] = ['spec', 'servers', i];
    checkServer(c, s, at);
    if (names.has(s.port.name)) c.error([...at, 'port', 'name'], `port names in servers must be unique: duplicate name ${s.port.name}`);
    names.add(s.port.name);
    if (!isHttpProtocol(parseProtocol(s.port.protocol)) && s.tls?.httpsRedirect)
      c.warn([...at, 'tls', 'httpsRedirect'], 'tls.httpsRedirect should only be used with http servers');
  });
}

function checkServer(c: Checker, s: Server, at: Seg[]): void {
  s.hosts.forEach((h, j) => {
    const slash = h.indexOf('/');
    if (slash >= 0 && h.indexOf('/', slash + 1) >= 0)
      c.error([...at, 'hosts', j], `host "${h}" must be "namespace/host" with at most one "/"`);
  });
  if (s.port.targetPort !== undefined && s.port.targetPort > 0)
    c.error([...at, 'port', 'targetPort'], 'targetPort has no impact on Gateways');
  checkServerTls(c, s.tls, [...at, 'tls']);
  const p = parseProtocol(s.port.protocol);
  if (isTlsProtocol(p) && !s.tls) c.error([...at, 'tls'], 'server must have TLS settings for HTTPS/TLS protocols');
  else if (!isTlsProtocol(p) && s.tls) {
    if (isHttpProtocol(p)) {
      // An HTTP server may carry `tls: {httpsRedirect: true}` (mode unset is PASSTHROUGH), nothing else.
      const passthrough = s.tls.mode === undefined || s.tls.mode === 'PASSTHROUGH' || s.tls.mode === 'AUTO_PASSTHROUGH';
      if (!passthrough || s.tls.caCertificates || s.tls.privateKey || s.tls.serverCertificate)
        c.error([...at, 'tls'], 'server cannot have TLS settings for plain text HTTP ports');
    } else c.error([...at, 'tls'], 'server cannot have TLS settings for non HTTPS/TLS ports');
  }
}

function checkServerTls(c: Checker, tls: Tls | undefined, at: Seg[]): void {
  if (!tls) return;
  // Istio reads `tlsCertificates` (several server certificates, e.g. RSA and ECDSA); meshgate's listeners
  // serve one certificate from credentialName(s) or serverCertificate/privateKey only. Accepting the field
  // would let a server pass as having a certificate and then serve none: it is refused, and it is never
  // counted as a credential below.
  if (tls.tlsCertificates !== undefined)
    c.error(
      [...at, 'tlsCertificates'],
      'tlsCertificates is not served by meshgate: give the server certificate as credentialName, or as serverCertificate and privateKey',
    );
  // Istio's enum default: an unset mode is PASSTHROUGH.
  const mode = tls.mode ?? 'PASSTHROUGH';
  if (mode === 'ISTIO_MUTUAL') {
    // The mesh's own certificates are used: any other source is a mistake.
    if (tls.serverCertificate) c.error([...at, 'serverCertificate'], 'ISTIO_MUTUAL TLS cannot have associated server certificate');
    if (tls.privateKey) c.error([...at, 'privateKey'], 'ISTIO_MUTUAL TLS cannot have associated private key');
    if (tls.caCertificates) c.error([...at, 'caCertificates'], 'ISTIO_MUTUAL TLS cannot have associated CA bundle');
    if (tls.credentialName) c.error([...at, 'credentialName'], 'ISTIO_MUTUAL TLS cannot have associated credentialName');
    if (tls.credentialNames?.length) c.error([...at, 'credentialNames'], 'ISTIO_MUTUAL TLS cannot have associated credentialNames');
    return;
  }
  const hasCerts = !!(
    tls.caCrl ||
    tls.serverCertificate ||
    tls.privateKey ||
    tls.caCertificates ||
    tls.credentialName ||
    tls.credentialNames?.length
  );
  if ((mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH') && hasCerts) {
    const unset = tls.mode === undefined ? ' (tls.mode is unset, which Istio reads as PASSTHROUGH)' : '';
    c.warn(tls.mode === undefined ? at : [...at, 'mode'], `${mode} mode does not use certificates, they will be ignored${unset}`);
  }
  let sources = 0;
  if (tls.serverCertificate && tls.privateKey) sources++;
  if (tls.credentialName) sources++;
  if (tls.credentialNames?.length) sources++;
  if (sources > 1)
    c.error(at, 'only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified');
  const terminates = mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL';
  if (terminates && (tls.credentialName || tls.credentialNames?.length)) return; // fetched over SDS; files not needed
  if (terminates) {
    const prefix = mode === 'SIMPLE' ? 'SIMPLE TLS' : 'MUTUAL TLS';
    if (mode !== 'SIMPLE' && !tls.caCertificates) c.error([...at, 'caCertificates'], `${prefix} requires a client CA bundle`);
    if (!tls.serverCertificate) c.error([...at, 'serverCertificate'], `${prefix} requires a server certificate`);
    if (!tls.privateKey) c.error([...at, 'privateKey'], `${prefix} requires a private key`);
  }
  if (tls.caCrl) {
    if (tls.credentialName)
      c.error([...at, 'caCrl'], 'CRL is not supported with credentialName. CRL has to be specified in the credential');
    if (mode === 'SIMPLE') c.error([...at, 'caCrl'], 'CRL is not supported with SIMPLE TLS');
  }
}
