// Raw HTTPS requests and watch streams against the API-server double, for the contract tests.
import { request } from 'node:https';
import type { ApiServerDouble } from '../../src/kube/apiserver-double/server.js';

export interface Reply {
  status: number;
  body: Record<string, unknown>;
}

export function call(
  d: ApiServerDouble,
  method: string,
  path: string,
  body?: unknown,
  opts: { token?: string; contentType?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const u = new URL(d.url + path);
    const req = request(
      u,
      {
        method,
        ca: d.caPem,
        headers: {
          authorization: `Bearer ${opts.token ?? d.token}`,
          ...(body !== undefined ? { 'content-type': opts.contentType ?? 'application/json' } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
        });
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(JSON.stringify(body));
    req.end();
  });
}

export interface WatchEvent {
  type: string;
  object: { metadata?: { name?: string; resourceVersion?: string }; code?: number; reason?: string; kind?: string };
}

/** Opens a watch and collects its events until `until` holds for the list (or `ms` passes), then closes it. */
export function collectWatch(
  d: ApiServerDouble,
  path: string,
  until: (evs: WatchEvent[]) => boolean,
  ms = 5000,
): Promise<{ events: WatchEvent[]; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const events: WatchEvent[] = [];
    let buf = '';
    let ended = false;
    const req = request(new URL(d.url + path), { ca: d.caPem, headers: { authorization: `Bearer ${d.token}` } }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buf.slice(0, nl)) as WatchEvent);
          buf = buf.slice(nl + 1);
        }
        if (until(events)) finish();
      });
      res.on('end', () => {
        ended = true;
        finish();
      });
    });
    const timer = setTimeout(() => finish(), ms);
    function finish(): void {
      clearTimeout(timer);
      req.destroy();
      resolve({ events, ended });
    }
    req.on('error', (err) => (events.length > 0 || ended ? undefined : reject(err)));
    req.end();
  });
}
