// istiod's monitoring port (15014) for meshgate: `/ready` (200 once config is loaded and the xDS port
// is serving), `/metrics` (Prometheus), `/debug/syncz` (connected proxies and what each has ACKed) and
// `/debug/config_dump?proxyID=ID` (the snapshot a proxy is being served, keys redacted). Loopback by
// default; requests addressed to a name other than `localhost` are refused (DNS rebinding).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { hostHeaderProblem } from '../xds/debug-http-guard.js';

export interface DebugHandlers {
  ready: () => { ready: boolean; reason?: string };
  registry: Registry;
  syncz: () => unknown;
  configDump: (proxyId: string) => unknown;
}

export interface DebugServer {
  address: string;
  close(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, body: string, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

export async function startDebugServer(listen: string, h: DebugHandlers): Promise<DebugServer> {
  const { host, port } = splitHostPort(listen);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    // A browser tricked by DNS rebinding sends the attacker's name as Host; Prometheus and people use an address.
    const hostProblem = hostHeaderProblem(req.headers.host);
    if (hostProblem) return send(res, 403, JSON.stringify({ error: hostProblem, code: 'E_HOST_REFUSED' }));
    if (req.method !== 'GET') return send(res, 405, JSON.stringify({ error: 'only GET is supported' }));
    switch (url.pathname) {
      case '/ready': {
        const r = h.ready();
        return send(res, r.ready ? 200 : 503, r.ready ? 'ready\n' : `not ready: ${r.reason ?? 'starting'}\n`, 'text/plain');
      }
      case '/metrics':
        h.registry.metrics().then(
          (text) => send(res, 200, text, h.registry.contentType),
          (err: unknown) => send(res, 500, JSON.stringify({ error: (err as Error).message })),
        );
        return;
      case '/debug/syncz':
        return send(res, 200, `${JSON.stringify(h.syncz(), null, 2)}\n`);
      case '/debug/config_dump': {
        const id = url.searchParams.get('proxyID');
        if (!id) return send(res, 400, JSON.stringify({ error: 'proxyID query parameter is required' }));
        const dump = h.configDump(id);
        if (dump === undefined) return send(res, 404, JSON.stringify({ error: `no snapshot for proxy ${id}` }));
        return send(res, 200, `${JSON.stringify(dump, null, 2)}\n`);
      }
      default:
        return send(
          res,
          404,
          JSON.stringify({
            error: `no such endpoint ${url.pathname}`,
            endpoints: ['/ready', '/metrics', '/debug/syncz', '/debug/config_dump?proxyID='],
          }),
        );
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    address: `${a.address}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function splitHostPort(hp: string): { host: string; port: number } {
  const i = hp.lastIndexOf(':');
  if (i <= 0) throw new RangeError(`"${hp}" is not host:port`);
  const port = Number(hp.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`"${hp}": port must be 0-65535`);
  return { host: hp.slice(0, i).replace(/^\[|\]$/g, ''), port };
}
