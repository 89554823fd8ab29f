// An API-server double: the part of the Kubernetes API contract that informers and kubectl use, served
// over HTTPS with a self-signed certificate and a bearer token, to the documented API:
//   discovery  /version, /api, /apis, /api/v1, /apis/<group>/<version> (legacy, non-aggregated lists)
//   read       get and list (items carry the list's resourceVersion), `as=Table` for kubectl get
//   watch      `?watch=1`: ADDED/MODIFIED/DELETED in resourceVersion order from the requested one,
//              BOOKMARK events when `allowWatchBookmarks=true`, an ERROR event with a 410 Expired Status
//              when the resourceVersion is older than the kept history, `timeoutSeconds`
//   write      create (POST), update (PUT, with optimistic concurrency on metadata.resourceVersion),
//              patch (merge, strategic merge, JSON patch), delete
// Not served: server-side apply, protobuf, aggregated discovery, OpenAPI (kubectl then skips client-side
// validation, hence `--validate=false`), admission, garbage collection, finalizers, paging (`limit`/
// `continue`), and a DELETED event when an update makes an object leave a watch's label selector.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { isIP } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { issueCertificate } from '../../pki/certificate.js';
import { generateKeyPair } from '../../pki/keys.js';
import { ApiError, ObjectStore, type StoredEvent } from './object-store.js';
import { applyPatch, patchTypeOf, type JsonObject } from './patch.js';
import { findResource, groups, groupVersion, resourceList, RESOURCE_TYPES, type ResourceType } from './resources.js';
import { parseFieldSelector, parseLabelSelector, type Selector } from './selectors.js';

/** The real API server refuses request bodies over 3 MiB. */
const MAX_BODY_BYTES = 3 * 1024 * 1024;

export interface ApiServerDoubleOptions {
  host?: string;
  port?: number;
  token: string;
  /** How often an idle watch that asked for bookmarks gets one; default 1 s (the real server: about a minute). */
  bookmarkIntervalMs?: number;
  /** Changes kept for watches to resume from; default 1000. */
  maxHistory?: number;
  /** Namespaces present at start, as in a fresh cluster; default default, kube-system, kube-public, istio-system. */
  namespaces?: string[];
}

export interface ApiServerDouble {
  /** https://host:port */
  url: string;
  caPem: string;
  token: string;
  store: ObjectStore;
  /** Ends every open watch stream (a dropped connection, as a restarting API server or a load balancer does). */
  dropWatches(): number;
  /** Open watch streams. */
  watchCount(): number;
  /** The last 1000 watch requests (path and query), to check what clients ask for. */
  watchRequests(): readonly string[];
  close(): Promise<void>;
}

interface Route {
  resource: ResourceType;
  version: string;
  namespace: string | undefined;
  name: string | undefined;
}

function status(code: number, reason: string, message: string): JsonObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function withVersion(r: ResourceType, version: string, o: JsonObject): JsonObject {
  return { ...o, apiVersion: groupVersion(r.group, version), kind: r.kind };
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new ApiError(413, 'RequestEntityTooLarge', 'request entity too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new ApiError(400, 'BadRequest', 'the request body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

function parseRoute(segs: string[]): Route | undefined {
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === 'api' && segs.length >= 3) {
    group = '';
    version = segs[1]!;
    rest = segs.slice(2);
  } else if (segs[0] === 'apis' && segs.length >= 4) {
    group = segs[1]!;
    version = segs[2]!;
    rest = segs.slice(3);
  } else return undefined;
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length > 2) return undefined;
  const resource = findResource(group, version, rest[0]!);
  if (!resource) return undefined;
  if (!resource.namespaced && namespace !== undefined) return undefined;
  return { resource, version, namespace, name: rest[1] };
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!.trim());
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** kubectl get's Table: name and age, the columns every kind has. */
function table(items: JsonObject[], rv: string): JsonObject {
  const now = Date.now();
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion: rv },
    columnDefinitions: [
      { name: 'Name', type: 'string', format: 'name', description: 'Name', priority: 0 },
      { name: 'Age', type: 'string', format: '', description: 'Age', priority: 0 },
    ],
    rows: items.map((o) => {
      const m = o.metadata as JsonObject;
      const age = Math.max(0, Math.round((now - Date.parse(String(m.creationTimestamp))) / 1000));
      return { cells: [m.name as string, `${age}s`], object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: m } };
    }),
  };
}

export async function startApiServerDouble(opts: ApiServerDoubleOptions): Promise<ApiServerDouble> {
  const host = opts.host ?? '127.0.0.1';
  const keys = await generateKeyPair('ec-p256');
  const certPem = await issueCertificate({
    subject: 'CN=meshgate-apiserver-double',
    publicKeyPem: keys.publicKeyPem,
    issuer: 'self',
    selfPrivateKeyPem: keys.privateKeyPem,
    usage: 'server',
    dns: ['localhost', 'kubernetes.default.svc'],
    ips: [...new Set(['127.0.0.1', ...(isIP(host) ? [host] : [])])],
    ttlSeconds: 7 * 24 * 3600,
  });
  const store = new ObjectStore(opts.maxHistory ?? 1000);
  const nsType = RESOURCE_TYPES.find((r) => r.kind === 'Namespace')!;
  for (const ns of opts.namespaces ?? ['default', 'kube-system', 'kube-public', 'istio-system'])
    store.create(nsType, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const bookmarkMs = opts.bookmarkIntervalMs ?? 1000;
  const watches = new Set<ServerResponse>();
  const watchLog: string[] = [];
  const sockets = new Set<Socket>();

  const serveWatch = (
    req: IncomingMessage,
    res: ServerResponse,
    route: Route,
    q: URLSearchParams,
    labels: Selector,
    fields: Selector,
  ): void => {
    const { resource, version, namespace } = route;
    const matches = (o: JsonObject): boolean =>
      (namespace === undefined || (o.metadata as JsonObject).namespace === namespace) && labels(o) && fields(o);
    const rvParam = q.get('resourceVersion') ?? '';
    watchLog.push(req.url ?? '');
    if (watchLog.length > 1000) watchLog.shift();
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const write = (type: string, object: JsonObject): void => {
      res.write(`${JSON.stringify({ type, object })}\n`);
    };
    let initial: StoredEvent[];
    if (rvParam === '' || rvParam === '0') {
      // "Start at most recent": the current state as synthetic ADDED events, then the changes after it.
      initial = store.list(resource, namespace).map((object) => ({ rv: 0, type: 'ADDED' as const, resource, object }));
    } else {
      const n = Number(rvParam);
      const since = Number.isInteger(n) && n >= 0 ? store.eventsSince(n) : undefined;
      if (!since) {
        write('ERROR', status(410, 'Expired', `too old resource version: ${rvParam} (${store.currentRv()})`));
        res.end();
        return;
      }
      initial = since.filter((e) => e.resource === resource);
    }
    for (const e of initial) if (matches(e.object)) write(e.type, withVersion(resource, version, e.object));
    watches.add(res);
    const unsubscribe = store.subscribe((e) => {
      if (e.resource === resource && matches(e.object)) write(e.type, withVersion(resource, version, e.object));
    });
    const timers: NodeJS.Timeout[] = [];
    if (q.get('allowWatchBookmarks') === 'true' || q.get('allowWatchBookmarks') === '1') {
      timers.push(
        setInterval(
          () =>
            write('BOOKMARK', {
              kind: resource.kind,
              apiVersion: groupVersion(resource.group, version),
              metadata: { resourceVersion: String(store.currentRv()) },
            }),
          bookmarkMs,
        ),
      );
    }
    const timeout = Number(q.get('timeoutSeconds') ?? '');
    if (Number.isFinite(timeout) && timeout > 0) timers.push(setTimeout(() => res.end(), timeout * 1000));
    const done = (): void => {
      unsubscribe();
      for (const t of timers) clearTimeout(t);
      watches.delete(res);
    };
    res.on('close', done);
    req.on('close', done);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'https://double');
    const p = url.pathname.replace(/\/+$/, '') || '/';
    if (p === '/healthz' || p === '/livez' || p === '/readyz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
      return;
    }
    if (!tokenMatches(req.headers.authorization, opts.token)) return send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    if (p === '/version')
      return send(res, 200, {
        major: '1',
        minor: '32',
        gitVersion: 'v1.32.0-meshgate-apiserver-double',
        platform: `${process.platform}/${process.arch}`,
      });
    if (p === '/api')
      return send(res, 200, {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: req.headers.host ?? host }],
      });
    if (p === '/apis') {
      return send(res, 200, {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: groups().map((g) => ({
          name: g.name,
          versions: g.versions.map((v) => ({ groupVersion: `${g.name}/${v}`, version: v })),
          preferredVersion: { groupVersion: `${g.name}/${g.versions[0]}`, version: g.versions[0] },
        })),
      });
    }
    const segs = p
      .split('/')
      .filter((s) => s !== '')
      .map(decodeURIComponent);
    if (segs[0] === 'apis' && segs.length === 2) {
      const g = groups().find((x) => x.name === segs[1]);
      if (!g) return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
      return send(res, 200, {
        kind: 'APIGroup',
        apiVersion: 'v1',
        name: g.name,
        versions: g.versions.map((v) => ({ groupVersion: `${g.name}/${v}`, version: v })),
        preferredVersion: { groupVersion: `${g.name}/${g.versions[0]}`, version: g.versions[0] },
      });
    }
    if ((segs[0] === 'api' && segs.length === 2) || (segs[0] === 'apis' && segs.length === 3)) {
      const list = segs[0] === 'api' ? resourceList('', segs[1]!) : resourceList(segs[1]!, segs[2]!);
      return list ? send(res, 200, list) : send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    }
    const route = parseRoute(segs);
    if (!route) return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    const { resource, version, name } = route;
    const namespace = resource.namespaced ? route.namespace : '';
    const method = req.method ?? 'GET';
    const out = (o: JsonObject): JsonObject => withVersion(resource, version, o);
    if (name === undefined) {
      if (method === 'GET') {
        const labels = parseLabelSelector(url.searchParams.get('labelSelector'));
        const fields = parseFieldSelector(url.searchParams.get('fieldSelector'));
        const w = url.searchParams.get('watch');
        if (w === '1' || w === 'true')
          return serveWatch(
            req,
            res,
            { ...route, namespace: resource.namespaced ? route.namespace : undefined },
            url.searchParams,
            labels,
            fields,
          );
        const items = store.list(resource, resource.namespaced ? route.namespace : undefined).filter((o) => labels(o) && fields(o));
        const rv = String(store.currentRv());
        if ((req.headers.accept ?? '').includes('as=Table')) return send(res, 200, table(items, rv));
        return send(res, 200, {
          kind: `${resource.kind}List`,
          apiVersion: groupVersion(resource.group, version),
          metadata: { resourceVersion: rv },
          items: items.map(out),
        });
      }
      if (method === 'POST') {
        if (resource.namespaced && namespace === undefined)
          return send(res, 405, status(405, 'MethodNotAllowed', 'create needs a namespace in the path'));
        const body = (await readBody(req)) as JsonObject;
        const bodyNs = (body.metadata as JsonObject | undefined)?.namespace;
        if (resource.namespaced && bodyNs !== undefined && bodyNs !== namespace)
          return send(
            res,
            400,
            status(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request'),
          );
        return send(res, 201, out(store.create(resource, namespace ?? '', body)));
      }
      return send(res, 405, status(405, 'MethodNotAllowed', `${method} is not allowed on a collection`));
    }
    if (resource.namespaced && namespace === undefined)
      return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    const ns = namespace ?? '';
    if (method === 'GET') {
      const o = store.get(resource, ns, name);
      if (!o)
        return send(res, 404, {
          ...status(404, 'NotFound', `${resource.plural} "${name}" not found`),
          details: { name, kind: resource.plural },
        });
      return send(res, 200, out(o));
    }
    if (method === 'PUT') return send(res, 200, out(store.update(resource, ns, name, (await readBody(req)) as JsonObject)));
    if (method === 'PATCH') {
      const type = patchTypeOf(req.headers['content-type']);
      if (!type)
        return send(
          res,
          415,
          status(
            415,
            'UnsupportedMediaType',
            `the patch type ${String(req.headers['content-type'])} is not supported (server-side apply is not served)`,
          ),
        );
      const cur = store.get(resource, ns, name);
      if (!cur) return send(res, 404, status(404, 'NotFound', `${resource.plural} "${name}" not found`));
      let patched: JsonObject;
      try {
        patched = applyPatch(type, cur, await readBody(req));
      } catch (err) {
        if (err instanceof ApiError) throw err;
        return send(res, 422, status(422, 'Invalid', (err as Error).message));
      }
      // A patch never moves the object nor races: it applies to the version it was read against.
      const m = (patched.metadata ?? {}) as JsonObject;
      patched.metadata = {
        ...m,
        name,
        ...(resource.namespaced ? { namespace: ns } : {}),
        resourceVersion: (cur.metadata as JsonObject).resourceVersion as string,
      };
      return send(res, 200, out(store.update(resource, ns, name, patched)));
    }
    if (method === 'DELETE') {
      const o = store.delete(resource, ns, name);
      return send(res, 200, out(o));
    }
    return send(res, 405, status(405, 'MethodNotAllowed', `${method} is not allowed`));
  };

  const server: Server = createServer({ key: keys.privateKeyPem, cert: certPem }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.end();
        return;
      }
      if (err instanceof ApiError) send(res, err.status, status(err.status, err.reason, err.message));
      else send(res, 500, status(500, 'InternalError', (err as Error).message));
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const urlHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `https://${urlHost}:${addr.port}`,
    caPem: certPem,
    token: opts.token,
    store,
    dropWatches: () => {
      const n = watches.size;
      for (const w of [...watches]) w.socket?.destroy();
      return n;
    },
    watchCount: () => watches.size,
    watchRequests: () => watchLog,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
