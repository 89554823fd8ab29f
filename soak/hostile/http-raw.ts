// One HTTP/1.1 request with exactly the headers an attack wants (a foreign Host, an Origin): fetch() drops
// or rewrites Host, node:http sends what it is given. For the debug and admin attacks.
import http from 'node:http';

export interface RawHttpResponse {
  status: number;
  body: string;
}

/** `address` is host:port on loopback; `headers.host` replaces the Host node:http would send. */
export function rawHttp(
  address: string,
  path: string,
  o: { method?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<RawHttpResponse> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: address.slice(0, i).replace(/^\[|\]$/g, ''),
        port: Number(address.slice(i + 1)),
        path,
        method: o.method ?? 'GET',
        headers: o.headers ?? {},
        timeout: o.timeoutMs ?? 5000,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${address}${path} within ${o.timeoutMs ?? 5000} ms`)));
    req.on('error', reject);
    req.end();
  });
}
