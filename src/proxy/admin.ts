// The proxy's admin interface, as Envoy's admin (15000) plus Istio's Prometheus (15090) and readiness
// (15021) ports: /config_dump in Envoy's JSON shape (keys redacted), /stats/prometheus, /ready, /healthz,
// /certs, /clusters, /listeners, POST /drain_listeners, and GET /runtime + POST /runtime_modify for the
// connection limits. Admin listens on loopback only, as
// pilot-agent configures Envoy's (anyone who reaches it can drain the proxy); Prometheus and readiness
// are separate listeners serving one read-only path each, so they may listen on the pod address for
// scrapers and probes, as Istio's do. Admin requests must be addressed to an IP or localhost (DNS
// rebinding), and a POST (drain, runtime_modify) must not come from another site's page (CSRF).
import http from 'node:http';
import type net from 'node:net';
import { applyRuntimeOverrides } from './connection-limits.js';
import { hostHeaderProblem, isLoopbackAddress, mutatingRequestProblem } from '../xds/debug-http-guard.js';
import { AdminError } from './errors.js';
import type { Proxy } from './proxy.js';

export interface AdminOptions {
  /** Admin bind address: loopback only (127.0.0.0/8, ::1, localhost); 127.0.0.1 by default. */
  address?: string;
  /** Where the Prometheus and readiness ports listen (e.g. the pod IP, or 0.0.0.0 as Istio); default `address`. */
  probeAddress?: string;
  /** Admin port (Istio: 15000); 0 picks a free port. */
  port?: number;
  /** Prometheus port serving only /stats/prometheus (Istio: 15090); omitted = not started. */
  statsPort?: number;
  /** Readiness port serving /healthz/ready (Istio: 15021); omitted = not started. */
  readinessPort?: number;
  /** Called by POST /drain_listeners after listeners stopped accepting. */
  onDrain?: () => void;
}

export interface AdminServer {
  address: string;
  port: number;
  probeAddress: string;
  statsPort?: number;
  readinessPort?: number;
  close(): Promise<void>;
}

type Handler = (req: http.IncomingMessage, url: URL, res: http.ServerResponse) => void | Promise<void>;

function send(res: http.ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function json(res: http.ServerResponse, value: unknown): void {
  send(res, 200, `${JSON.stringify(value, null, 2)}\n`, 'application/json');
}

export function adminRoutes(proxy: Proxy, opts: AdminOptions): Record<string, Handler> {
  const ready: Handler = (_req, _url, res) =>
    proxy.isReady() ? send(res, 200, 'LIVE\n') : send(res, 503, proxy.listenerNames().length === 0 ? 'PRE_INITIALIZING\n' : 'DRAINING\n');
  return {
    'GET /config_dump': (_req, url, res) => json(res, proxy.configDump(url.searchParams.has('include_eds'))),
    'GET /stats/prometheus': async (_req, _url, res) =>
      send(res, 200, await proxy.stats.registry.metrics(), proxy.stats.registry.contentType),
    'GET /ready': ready,
    'GET /healthz/ready': ready,
    'GET /healthz': (_req, _url, res) => send(res, 200, 'OK\n'),
    'GET /certs': (_req, _url, res) =>
      json(res, {
        certificates: proxy.certs().map((c) => ({
          name: c.name,
          [c.kind === 'ca' ? 'ca_cert' : 'cert_chain']: [
            {
              serial_number: c.serial.toLowerCase(),
              subject: c.subject,
              issuer: c.issuer,
              subject_alt_names: c.sans.map((s) => {
                const i = s.indexOf(':');
                return { [s.slice(0, i).toLowerCase()]: s.slice(i + 1) };
              }),
              days_until_expiration: String(c.daysUntilExpiration),
              valid_from: c.validFrom,
              expiration_time: c.validTo,
            },
          ],
        })),
      }),
    'GET /clusters': (_req, _url, res) => json(res, { cluster_statuses: proxy.clusterStatus() }),
    'GET /listeners': (_req, _url, res) =>
      json(res, { listener_statuses: proxy.listenerNames().map((name) => ({ name, local_address: proxy.listenerAddress(name) ?? null })) }),
    // Envoy's runtime keys for the connection caps; existing connections stay whatever the new values.
    'POST /runtime_modify': (_req, url, res) => {
      const err = applyRuntimeOverrides(proxy.limits, [...url.searchParams]);
      if (err) send(res, 400, `${err}\n`);
      else send(res, 200, 'OK\n');
    },
    'GET /runtime': (_req, _url, res) => json(res, proxy.limits.settings()),
    'POST /drain_listeners': async (_req, _url, res) => {
      send(res, 200, 'OK\n');
      await proxy.drainListeners();
      opts.onDrain?.();
    },
  };
}

function listen(server: http.Server, address: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (e) => reject(new AdminError(`admin: cannot listen on ${address}:${port}: ${e.message}`, { cause: e })));
    server.listen(port, address, () => resolve((server.address() as net.AddressInfo).port));
  });
}

function serve(routes: Record<string, Handler>, log: Proxy['log'], guarded: boolean): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (guarded) {
      const problem =
        req.method === 'GET' || req.method === 'HEAD' ? hostHeaderProblem(req.headers.host) : mutatingRequestProblem(req.headers);
      if (problem) {
        log('warn', `admin ${req.method} ${url.pathname} refused: ${problem}`);
        send(res, 403, `${problem}\n`);
        return;
      }
    }
    const h = routes[`${req.method ?? 'GET'} ${url.pathname}`];
    if (!h) {
      send(res, 404, `no admin endpoint ${req.method} ${url.pathname}\n`);
      return;
    }
    Promise.resolve(h(req, url, res)).catch((err: unknown) => {
      log('error', `admin ${url.pathname}: ${(err as Error).message}`);
      if (!res.headersSent) send(res, 500, `${(err as Error).message}\n`);
    });
  });
}

/** Starts the admin, stats and readiness servers for a proxy. */
export async function startAdmin(proxy: Proxy, opts: AdminOptions = {}): Promise<AdminServer> {
  const address = opts.address ?? '127.0.0.1';
  if (!isLoopbackAddress(address)) {
    throw new AdminError(
      `admin: refusing to listen on ${address}: the admin API can drain the proxy and dump its configuration, so it listens on a loopback address only (127.0.0.1, ::1); use probeAddress for the Prometheus and readiness ports`,
    );
  }
  const probeAddress = opts.probeAddress ?? address;
  const routes = adminRoutes(proxy, opts);
  const servers: http.Server[] = [];
  const start = async (r: Record<string, Handler>, at: string, port: number, guarded: boolean): Promise<number> => {
    const s = serve(r, proxy.log, guarded);
    servers.push(s);
    return listen(s, at, port);
  };
  const close = async (): Promise<void> => {
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((r) => {
            s.closeAllConnections();
            s.close(() => r());
          }),
      ),
    );
  };
  try {
    const port = await start(routes, address, opts.port ?? 15000, true);
    // Read-only, one path each: reached by scrapers and kubelet-style probes by the pod address, unchecked.
    const statsPort =
      opts.statsPort !== undefined
        ? await start({ 'GET /stats/prometheus': routes['GET /stats/prometheus']! }, probeAddress, opts.statsPort, false)
        : undefined;
    const readinessPort =
      opts.readinessPort !== undefined
        ? await start({ 'GET /healthz/ready': routes['GET /healthz/ready']! }, probeAddress, opts.readinessPort, false)
        : undefined;
    return { address, port, probeAddress, statsPort, readinessPort, close };
  } catch (err) {
    await close();
    throw err;
  }
}
