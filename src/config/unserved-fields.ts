// Config that meshgate accepts (it is valid Istio) but does not serve: its data plane is L4 (TCP and
// TLS), so HTTP routes, HTTP servers and HTTP-only policy have no effect, and a few traffic-policy
// features are not built yet. Istio would act on them; silently dropping them would let a user
// believe they apply. Each one is a Warning (MG0012) naming the field, never an error: the rest of
// the object is served as usual.
import { DiagnosticCodes, type Diagnostic } from './diagnostics.js';

type Seg = string | number;
type Report = (level: Diagnostic['level'], code: string, path: readonly Seg[], message: string, key?: boolean) => void;
type Json = Record<string, unknown>;

const L4 = "meshgate's data plane is L4 (TCP and TLS)";

/** Gateway server protocols whose traffic Istio routes with `http` routes only. */
const HTTP_SERVER_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB', 'HTTP_PROXY']);

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function checkTrafficPolicy(tp: unknown, path: Seg[], warn: (p: Seg[], msg: string) => void): void {
  if (!isObject(tp)) return;
  const pool = isObject(tp.connectionPool) ? tp.connectionPool : undefined;
  if (isObject(pool?.tcp) && pool.tcp.maxConnectionDuration !== undefined)
    warn(
      [...path, 'connectionPool', 'tcp', 'maxConnectionDuration'],
      'maxConnectionDuration is not served by meshgate: connections are not closed after a maximum duration',
    );
  if (pool?.http !== undefined)
    warn([...path, 'connectionPool', 'http'], `HTTP connection-pool settings are not served: ${L4}; only connectionPool.tcp applies`);
  const lb = isObject(tp.loadBalancer) ? tp.loadBalancer : undefined;
  if (lb?.consistentHash !== undefined)
    warn(
      [...path, 'loadBalancer', 'consistentHash'],
      'consistent-hash load balancing is not served by meshgate: the cluster balances by least request (or loadBalancer.simple)',
    );
  if (lb?.localityLbSetting !== undefined)
    warn(
      [...path, 'loadBalancer', 'localityLbSetting'],
      'locality load balancing is not served by meshgate: endpoints are balanced without regard to locality',
    );
  for (const f of ['warmup', 'warmupDurationSecs'] as const)
    if (lb?.[f] !== undefined)
      warn([...path, 'loadBalancer', f], 'slow-start warmup is not served by meshgate: new endpoints get their full share at once');
  if (tp.tunnel !== undefined) warn([...path, 'tunnel'], 'tunnel settings are not served by meshgate: traffic is not tunnelled');
  if (tp.proxyProtocol !== undefined)
    warn([...path, 'proxyProtocol'], 'PROXY protocol is not served by meshgate: no PROXY header is sent upstream');
  const pls = Array.isArray(tp.portLevelSettings) ? tp.portLevelSettings : [];
  pls.forEach((p, i) => checkTrafficPolicy(p, [...path, 'portLevelSettings', i], warn));
}

/** Warnings (MG0012) for every field of a valid object that meshgate reads but does not serve. */
export function checkUnservedFields(o: Json, report: Report): void {
  const spec = isObject(o.spec) ? o.spec : {};
  const warn = (p: Seg[], msg: string): void => report('Warning', DiagnosticCodes.NotServed, p, msg, true);
  switch (o.kind) {
    case 'VirtualService': {
      const http = Array.isArray(spec.http) ? spec.http : [];
      if (http.length > 0) {
        const l4 = (Array.isArray(spec.tcp) ? spec.tcp.length : 0) + (Array.isArray(spec.tls) ? spec.tls.length : 0);
        warn(
          ['spec', 'http'],
          `HTTP routes are not served: ${L4}; nothing serves ${http.length === 1 ? 'this route' : `these ${http.length} routes`}${l4 > 0 ? ', only the tcp and tls routes apply' : ''}. Use tcp or tls routes`,
        );
      }
      break;
    }
    case 'DestinationRule': {
      checkTrafficPolicy(spec.trafficPolicy, ['spec', 'trafficPolicy'], warn);
      const subsets = Array.isArray(spec.subsets) ? spec.subsets : [];
      subsets.forEach((s, i) =>
        checkTrafficPolicy(isObject(s) ? s.trafficPolicy : undefined, ['spec', 'subsets', i, 'trafficPolicy'], warn),
      );
      break;
    }
    case 'ServiceEntry':
      if (spec.resolution === 'DYNAMIC_DNS')
        warn(
          ['spec', 'resolution'],
          'resolution DYNAMIC_DNS is not served: it needs a dynamic forward proxy, which meshgate does not have; these wildcard hosts get no cluster, so their traffic follows outboundTrafficPolicy (PassthroughCluster under ALLOW_ANY). Use DNS with explicit hosts',
        );
      break;
    case 'Gateway': {
      const servers = Array.isArray(spec.servers) ? spec.servers : [];
      servers.forEach((s, i) => {
        if (!isObject(s)) return;
        const port = isObject(s.port) ? s.port : {};
        const protocol = typeof port.protocol === 'string' ? port.protocol.toUpperCase() : '';
        if (HTTP_SERVER_PROTOCOLS.has(protocol))
          warn(
            ['spec', 'servers', i, 'port', 'protocol'],
            `a server with protocol ${protocol} is not served: ${L4}; this server gets no listener. Use protocol TLS or TCP`,
          );
        const tls = isObject(s.tls) ? s.tls : {};
        if (tls.httpsRedirect !== undefined)
          warn(['spec', 'servers', i, 'tls', 'httpsRedirect'], `httpsRedirect is an HTTP feature and is not served: ${L4}`);
        for (const f of ['verifyCertificateSpki', 'verifyCertificateHash'] as const) {
          if (tls[f] !== undefined)
            warn(
              ['spec', 'servers', i, 'tls', f],
              `${f} is not served by meshgate: client certificates are verified against caCertificates (and subjectAltNames) only`,
            );
        }
      });
      break;
    }
    default:
      break;
  }
}
