// The injection webhook's HTTPS server (Istio: istiod serves `/inject` on 15017, the Service maps 443 to
// it). Its serving certificate is issued by the mesh CA for the Service's names, so the
// MutatingWebhookConfiguration's caBundle is the mesh root; it is renewed at half its life and new
// handshakes get the new one.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MeshCA } from '../pki/mesh-ca.js';
import type { Logger } from '../shared/log.js';
import { AdmissionReviewError, parseAdmissionReview, reviewPod } from './admission-review.js';
import type { InjectionSettings } from './sidecar-injection.js';

export const INJECT_PATH = '/inject';
/** The API server sends at most ~3 MiB objects; anything larger is not a review. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const SERVING_TTL_SECONDS = 24 * 3600;

export interface InjectionWebhookOptions {
  listen: string;
  ca: MeshCA;
  /** DNS names of the webhook's Service (`istiod.istio-system.svc`, ...). */
  dnsNames: string[];
  settings: InjectionSettings;
  /** Namespace labels when known (e.g. from a Kubernetes source); else the API server's namespaceSelector decides. */
  namespaceLabels?: (ns: string) => Record<string, string> | undefined;
  logger?: Logger;
}

export interface InjectionWebhook {
  /** host:port bound. */
  address: string;
  close(): Promise<void>;
}

export class InjectionWebhookError extends Error {
  readonly code = 'E_INJECTION_WEBHOOK';
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > MAX_BODY_BYTES) return undefined;
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

export async function startInjectionWebhook(opts: InjectionWebhookOptions): Promise<InjectionWebhook> {
  const log = opts.logger;
  const serving = await opts.ca.issueServingCertificate(opts.dnsNames, SERVING_TTL_SECONDS);
  const server = https.createServer({ cert: serving.certChainPem, key: serving.privateKeyPem, minVersion: 'TLSv1.2' }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      log?.error('injection webhook request failed', { error: (err as Error).message });
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'https://webhook');
    if (url.pathname !== INJECT_PATH) return send(res, 404, { error: `only ${INJECT_PATH} is served` });
    if (req.method !== 'POST') return send(res, 405, { error: 'POST an AdmissionReview' });
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? ''))
      return send(res, 415, { error: 'content-type must be application/json' });
    const body = await readBody(req);
    if (!body) return send(res, 413, { error: `body larger than ${MAX_BODY_BYTES} bytes` });
    let request;
    try {
      request = parseAdmissionReview(JSON.parse(body.toString('utf8')));
    } catch (err) {
      const message = err instanceof AdmissionReviewError ? err.message : `not JSON: ${(err as Error).message}`;
      log?.warn('injection webhook: bad request', { error: message });
      return send(res, 400, { error: message });
    }
    const { review, decision } = reviewPod(request, opts.settings, opts.namespaceLabels);
    log?.info('injection webhook', {
      uid: request.uid,
      namespace: request.namespace,
      injected: decision.inject,
      ...(decision.inject ? {} : { reason: decision.reason }),
    });
    send(res, 200, review);
  };
  const i = opts.listen.lastIndexOf(':');
  const host = opts.listen.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(opts.listen.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new InjectionWebhookError(`--injection-webhook-listen: "${opts.listen}" is not HOST:PORT`);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new InjectionWebhookError(`cannot listen on ${opts.listen}: ${err.message}`, { cause: err })));
    server.listen(port, host, () => resolve());
  });
  const renew = setInterval(
    () => {
      opts.ca.issueServingCertificate(opts.dnsNames, SERVING_TTL_SECONDS).then(
        (next) => {
          server.setSecureContext({ cert: next.certChainPem, key: next.privateKeyPem, minVersion: 'TLSv1.2' });
          log?.info('injection webhook certificate renewed');
        },
        (err: unknown) => log?.error('injection webhook certificate renewal failed', { error: (err as Error).message }),
      );
    },
    (SERVING_TTL_SECONDS / 2) * 1000,
  );
  renew.unref();
  const bound = server.address();
  const address = typeof bound === 'object' && bound ? `${host.includes(':') ? `[${host}]` : host}:${bound.port}` : opts.listen;
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(renew);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
