// What injection adds to a Pod, Istio's sidecar template translated to meshgate's one image: the init
// container `istio-init` running `meshgate capture` (root, NET_ADMIN/NET_RAW, as istio-init), the
// container `istio-proxy` running `meshgate proxy --from-env` as 1337:1337 (Istio's securityContext),
// the projected token, the mesh root from the `istio-ca-root-cert` ConfigMap and an emptyDir for the
// bootstrap, the `sidecar.istio.io/status` annotation and the `security.istio.io/tlsMode` and canonical
// service labels. The patch is the RFC 6902 difference between the Pod received and the Pod injected.
import jsonpatch from 'fast-json-patch';
import { BOOTSTRAP_ENV, POD_ROOT_CERT_FILE, POD_TOKEN_FILE } from '../proxy/bootstrap-env.js';
import { INIT_CONTAINER, PROXY_CONTAINER, SIDECAR_STATUS_ANNOTATION } from './injection-policy.js';
import type { Container, Pod } from './pod.js';

export const PROXY_UID = 1337;
/** The ConfigMap holding the mesh root in every namespace (Istio's name; its key `root-cert.pem`). */
export const ROOT_CERT_CONFIGMAP = 'istio-ca-root-cert';
/** The audience the CA accepts on workload tokens (Istio's default, `istio-ca`). */
export const TOKEN_AUDIENCE = 'istio-ca';
export const BOOTSTRAP_FILE = '/etc/istio/proxy/bootstrap.json';
const TOKEN_DIR = POD_TOKEN_FILE.slice(0, POD_TOKEN_FILE.lastIndexOf('/'));
const ROOT_DIR = POD_ROOT_CERT_FILE.slice(0, POD_ROOT_CERT_FILE.lastIndexOf('/'));

export interface InjectionSettings {
  /** The meshgate image (holds `meshgate` on its PATH, iptables and the addon). */
  image: string;
  /** host:port of the control plane's xDS and CA (Istio: istiod.istio-system.svc:15012). */
  discoveryAddress: string;
  trustDomain: string;
  clusterId: string;
  /** The control plane revision (Istio's `istio.io/rev`), `default` unless set. */
  revision?: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
}

/** The volumes injection adds, by name (the status annotation lists them). */
export const INJECTED_VOLUMES = ['istio-envoy', 'istio-token', 'istiod-ca-cert'] as const;

// Istio's defaults for the sidecar's resources (values.global.proxy.resources).
const RESOURCES = { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2', memory: '1Gi' } };

function fieldRef(name: string, fieldPath: string): unknown {
  return { name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } };
}

/** The pod's workload name: Deployments' pods carry generateName `name-<rs hash>-`. */
function workloadName(pod: Pod): string {
  if (pod.metadata.name) return pod.metadata.name;
  const g = (pod.metadata.generateName ?? '').replace(/-$/, '');
  const parts = g.split('-');
  return parts.length > 1 && /^[a-z0-9]{8,10}$/.test(parts.at(-1)!) ? parts.slice(0, -1).join('-') : g || 'unknown';
}

/** Istio's canonical service defaults: the label itself, app.kubernetes.io/name, app, the workload. */
function canonicalLabels(pod: Pod): Record<string, string> {
  const l = pod.metadata.labels ?? {};
  return {
    'service.istio.io/canonical-name': l['service.istio.io/canonical-name'] ?? l['app.kubernetes.io/name'] ?? l.app ?? workloadName(pod),
    'service.istio.io/canonical-revision':
      l['service.istio.io/canonical-revision'] ?? l['app.kubernetes.io/version'] ?? l.version ?? 'latest',
  };
}

export function initContainer(s: InjectionSettings): Container {
  return {
    name: INIT_CONTAINER,
    image: s.image,
    ...(s.imagePullPolicy ? { imagePullPolicy: s.imagePullPolicy } : {}),
    // istio-iptables' defaults: every inbound port, the proxy's uid and gid exempt.
    command: ['meshgate', 'capture', '--proxy-uid', String(PROXY_UID), '--proxy-gid', String(PROXY_UID), '--inbound-ports', '*'],
    resources: RESOURCES,
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
      privileged: false,
      readOnlyRootFilesystem: false,
      runAsGroup: 0,
      runAsNonRoot: false,
      runAsUser: 0,
    },
  };
}

export function proxyContainer(pod: Pod, labels: Record<string, string>, s: InjectionSettings): Container {
  const appPorts = pod.spec.containers.flatMap((c) => c.ports ?? []);
  return {
    name: PROXY_CONTAINER,
    image: s.image,
    ...(s.imagePullPolicy ? { imagePullPolicy: s.imagePullPolicy } : {}),
    command: ['meshgate', 'proxy', '--from-env', '--write-bootstrap', BOOTSTRAP_FILE],
    env: [
      fieldRef(BOOTSTRAP_ENV.podName, 'metadata.name'),
      fieldRef(BOOTSTRAP_ENV.namespace, 'metadata.namespace'),
      fieldRef(BOOTSTRAP_ENV.instanceIp, 'status.podIP'),
      fieldRef(BOOTSTRAP_ENV.serviceAccount, 'spec.serviceAccountName'),
      { name: BOOTSTRAP_ENV.discoveryAddress, value: s.discoveryAddress },
      { name: BOOTSTRAP_ENV.trustDomain, value: s.trustDomain },
      { name: BOOTSTRAP_ENV.clusterId, value: s.clusterId },
      { name: BOOTSTRAP_ENV.interceptionMode, value: 'REDIRECT' },
      { name: BOOTSTRAP_ENV.labels, value: JSON.stringify(labels) },
      ...(appPorts.length > 0 ? [{ name: BOOTSTRAP_ENV.podPorts, value: JSON.stringify(appPorts) }] : []),
    ],
    ports: [{ containerPort: 15090, name: 'http-envoy-prom', protocol: 'TCP' }],
    // Istio's sidecar probe: /healthz/ready on 15021 (the agent answers once the first config is applied).
    readinessProbe: {
      httpGet: { path: '/healthz/ready', port: 15021 },
      initialDelaySeconds: 1,
      periodSeconds: 2,
      timeoutSeconds: 3,
      failureThreshold: 30,
    },
    resources: RESOURCES,
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsGroup: PROXY_UID,
      runAsNonRoot: true,
      runAsUser: PROXY_UID,
    },
    volumeMounts: [
      { name: 'istio-envoy', mountPath: BOOTSTRAP_FILE.slice(0, BOOTSTRAP_FILE.lastIndexOf('/')) },
      { name: 'istio-token', mountPath: TOKEN_DIR, readOnly: true },
      { name: 'istiod-ca-cert', mountPath: ROOT_DIR, readOnly: true },
    ],
  };
}

export function injectedVolumes(): ({ name: string } & Record<string, unknown>)[] {
  return [
    { name: 'istio-envoy', emptyDir: { medium: 'Memory' } },
    // A token for the CA's audience, rotated by the kubelet; the agent re-reads it on every use.
    {
      name: 'istio-token',
      projected: {
        sources: [
          { serviceAccountToken: { audience: TOKEN_AUDIENCE, expirationSeconds: 43200, path: POD_TOKEN_FILE.slice(TOKEN_DIR.length + 1) } },
        ],
      },
    },
    { name: 'istiod-ca-cert', configMap: { name: ROOT_CERT_CONFIGMAP } },
  ];
}

/** The Pod with the sidecar added (a new object; the input is not changed). */
export function injectPod(original: Pod, s: InjectionSettings): Pod {
  const pod = structuredClone(original);
  const labels = { ...pod.metadata.labels, 'security.istio.io/tlsMode': 'istio', ...canonicalLabels(pod) };
  pod.metadata.labels = labels;
  const status = {
    initContainers: [INIT_CONTAINER],
    containers: [PROXY_CONTAINER],
    volumes: [...INJECTED_VOLUMES],
    imagePullSecrets: null,
    revision: s.revision ?? 'default',
  };
  pod.metadata.annotations = { ...pod.metadata.annotations, [SIDECAR_STATUS_ANNOTATION]: JSON.stringify(status) };
  // Appended after the application's init containers, which thus run before capture is in place.
  pod.spec.initContainers = [...(pod.spec.initContainers ?? []), initContainer(s)];
  pod.spec.containers = [...pod.spec.containers, proxyContainer(original, labels, s)];
  pod.spec.volumes = [...(pod.spec.volumes ?? []), ...injectedVolumes()];
  return pod;
}

/** The RFC 6902 operations turning `original` into its injected form. */
export function injectionPatch(original: Pod, s: InjectionSettings): jsonpatch.Operation[] {
  return jsonpatch.compare(original, injectPod(original, s));
}
