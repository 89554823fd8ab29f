// TLS for the xDS/CA gRPC server (istiod's 15012): the serving certificate from the mesh CA, client
// certificates requested but optional (a proxy proves itself by its workload certificate or, before it
// has one, by its token) and, when presented, verified against the mesh root. grpc-js's plain
// createSsl can only require or ignore client certificates, so this uses its certificate-provider
// credentials, which also let the serving certificate rotate without restarting the server.
import * as grpc from '@grpc/grpc-js';

type CaListener = (update: { caCertificate: Buffer } | null) => void;
type IdentityListener = (update: { certificate: Buffer; privateKey: Buffer } | null) => void;

class InMemoryCertificateProvider {
  private ca: { caCertificate: Buffer };
  private identity: { certificate: Buffer; privateKey: Buffer };
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();

  constructor(rootPem: string, certChainPem: string, privateKeyPem: string) {
    this.ca = { caCertificate: Buffer.from(rootPem) };
    this.identity = { certificate: Buffer.from(certChainPem), privateKey: Buffer.from(privateKeyPem) };
  }

  update(u: { rootPem?: string; certChainPem?: string; privateKeyPem?: string }): void {
    if (u.rootPem) {
      this.ca = { caCertificate: Buffer.from(u.rootPem) };
      for (const l of this.caListeners) l(this.ca);
    }
    if (u.certChainPem && u.privateKeyPem) {
      this.identity = { certificate: Buffer.from(u.certChainPem), privateKey: Buffer.from(u.privateKeyPem) };
      for (const l of this.identityListeners) l(this.identity);
    }
  }

  addCaCertificateListener(l: CaListener): void {
    this.caListeners.add(l);
    // Asynchronously, as grpc-js's own providers do: its server registers its watcher after adding us.
    queueMicrotask(() => this.caListeners.has(l) && l(this.ca));
  }
  removeCaCertificateListener(l: CaListener): void {
    this.caListeners.delete(l);
  }
  addIdentityCertificateListener(l: IdentityListener): void {
    this.identityListeners.add(l);
    queueMicrotask(() => this.identityListeners.has(l) && l(this.identity));
  }
  removeIdentityCertificateListener(l: IdentityListener): void {
    this.identityListeners.delete(l);
  }
}

export interface XdsServerCredentials {
  credentials: grpc.ServerCredentials;
  /** Swaps the serving certificate and/or the trusted roots for new handshakes. */
  update(u: { rootPem?: string; certChainPem?: string; privateKeyPem?: string }): void;
}

export function createXdsServerCredentials(opts: { rootPem: string; certChainPem: string; privateKeyPem: string }): XdsServerCredentials {
  const provider = new InMemoryCertificateProvider(opts.rootPem, opts.certChainPem, opts.privateKeyPem);
  const credentials = grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
  return { credentials, update: (u) => provider.update(u) };
}
