// The proxy's bootstrap built from a pod's environment, pilot-agent's way: `meshgate proxy --from-env`
// in a container the injector (src/inject/) wrote. The downward API gives the pod's name, namespace, IP
// and service account; the injector adds the control plane's address, the trust domain, the cluster id,
// the pod's labels and ports; the token and the mesh root are files of the pod's volumes.
import net from 'node:net';
import type { ProxyBootstrap } from './bootstrap-types.js';
import { BootstrapError } from './errors.js';
import { formatNodeId, type ProxyRole } from '../envoy/node.js';

/** Where the injector mounts the projected token and the mesh root (Istio's paths). */
export const POD_TOKEN_FILE = '/var/run/secrets/tokens/istio-token';
export const POD_ROOT_CERT_FILE = '/var/run/secrets/istio/root-cert.pem';

/**
 * The environment variables read, Istio's names where Istio has one (POD_NAME, POD_NAMESPACE, INSTANCE_IP,
 * SERVICE_ACCOUNT, ISTIO_META_CLUSTER_ID, ISTIO_METAJSON_LABELS, ISTIO_META_POD_PORTS, CA_ADDR,
 * ISTIO_META_INTERCEPTION_MODE); DISCOVERY_ADDRESS stands for Istio's proxyConfig.discoveryAddress.
 */
export const BOOTSTRAP_ENV = {
  podName: 'POD_NAME',
  namespace: 'POD_NAMESPACE',
  instanceIp: 'INSTANCE_IP',
  serviceAccount: 'SERVICE_ACCOUNT',
  discoveryAddress: 'DISCOVERY_ADDRESS',
  caAddress: 'CA_ADDR',
  trustDomain: 'TRUST_DOMAIN',
  clusterId: 'ISTIO_META_CLUSTER_ID',
  labels: 'ISTIO_METAJSON_LABELS',
  podPorts: 'ISTIO_META_POD_PORTS',
  interceptionMode: 'ISTIO_META_INTERCEPTION_MODE',
  tokenFile: 'MESHGATE_TOKEN_FILE',
  rootCertFile: 'MESHGATE_ROOT_CERT_FILE',
} as const;

const WHERE = 'environment';

function required(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (v === undefined || v === '') throw new BootstrapError(WHERE, `${name}: required (set by the injector or the downward API)`);
  return v;
}

function json<T>(env: NodeJS.ProcessEnv, name: string, check: (v: unknown) => v is T): T | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (err) {
    throw new BootstrapError(WHERE, `${name}: not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!check(v)) throw new BootstrapError(WHERE, `${name}: has the wrong shape`);
  return v;
}

const isLabels = (v: unknown): v is Record<string, string> =>
  !!v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
/** ISTIO_META_POD_PORTS as Istio's injector writes it: the app containers' `ports` entries. */
const isPorts = (v: unknown): v is { containerPort: number; protocol?: string }[] =>
  Array.isArray(v) && v.every((p) => !!p && typeof p === 'object' && Number.isInteger((p as { containerPort?: unknown }).containerPort));

/**
 * A bootstrap from the environment: a sidecar's (or, with role `router`, a gateway's) identity, Istio's
 * ports (admin 127.0.0.1:15000, Prometheus 15090 and readiness 15021 on the pod IP so probes reach them).
 */
export function bootstrapFromEnv(env: NodeJS.ProcessEnv, role: ProxyRole = 'sidecar'): ProxyBootstrap {
  const podName = required(env, BOOTSTRAP_ENV.podName);
  const namespace = required(env, BOOTSTRAP_ENV.namespace);
  const ip = required(env, BOOTSTRAP_ENV.instanceIp);
  if (net.isIP(ip) === 0) throw new BootstrapError(WHERE, `${BOOTSTRAP_ENV.instanceIp}: "${ip}" is not an IP address`);
  const ports = json(env, BOOTSTRAP_ENV.podPorts, isPorts);
  const mode = env[BOOTSTRAP_ENV.interceptionMode] || 'REDIRECT';
  if (mode !== 'REDIRECT' && mode !== 'NONE')
    throw new BootstrapError(WHERE, `${BOOTSTRAP_ENV.interceptionMode}: must be REDIRECT or NONE, got "${mode}"`);
  const ips = [ip];
  const caAddress = env[BOOTSTRAP_ENV.caAddress];
  return {
    node: {
      id: formatNodeId({ role, ips, podName, namespace, domainSuffix: 'cluster.local' }),
      role,
      ips,
      podName,
      namespace,
      serviceAccount: required(env, BOOTSTRAP_ENV.serviceAccount),
      labels: json(env, BOOTSTRAP_ENV.labels, isLabels) ?? {},
      clusterId: env[BOOTSTRAP_ENV.clusterId] || 'Kubernetes',
      domainSuffix: 'cluster.local',
      ...(ports ? { workloadPorts: [...new Set(ports.filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort))] } : {}),
      // REDIRECT: sidecars are captured by iptables and gateways bind 0.0.0.0, as Istio's (the model binds
      // a pod address only for NONE, the lab's loopback mode).
      interceptionMode: mode,
    },
    discoveryAddress: required(env, BOOTSTRAP_ENV.discoveryAddress),
    ...(caAddress ? { caAddress } : {}),
    rootCertFile: env[BOOTSTRAP_ENV.rootCertFile] || POD_ROOT_CERT_FILE,
    tokenFile: env[BOOTSTRAP_ENV.tokenFile] || POD_TOKEN_FILE,
    trustDomain: env[BOOTSTRAP_ENV.trustDomain] || 'cluster.local',
    admin: { address: '127.0.0.1', port: 15000 },
    probeAddress: ip,
    statsPort: 15090,
    readinessPort: 15021,
    accessLog: { path: '/dev/stdout', format: 'text' },
  };
}
