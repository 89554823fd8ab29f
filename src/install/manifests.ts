// What `meshgate install` puts in a cluster, as Kubernetes objects: the control plane (istiod's
// Namespace, ServiceAccount, least-privilege RBAC, Deployment and Service with 15012 xDS+CA, 15014
// monitoring and 443→15017 the injection webhook), the MutatingWebhookConfiguration, the ingress and
// egress gateways with the seed's ports, and the mesh root ConfigMap `istio-ca-root-cert`. Pure: the same
// options give the same objects, in apply order (Namespaces and RBAC before what uses them).
import { PROXY_UID, ROOT_CERT_CONFIGMAP, TOKEN_AUDIENCE, BOOTSTRAP_FILE } from '../inject/sidecar-injection.js';
import { BOOTSTRAP_ENV, POD_ROOT_CERT_FILE, POD_TOKEN_FILE } from '../proxy/bootstrap-env.js';

export interface InstallOptions {
  /** The one meshgate image (control plane, proxies, capture). */
  image: string;
  /** The control plane's namespace (Istio: istio-system). */
  namespace: string;
  /** A control plane revision (Istio's `istio.io/rev`); names get `-REV`. */
  revision?: string;
  trustDomain: string;
  clusterId: string;
  /** Namespaces labelled `istio-injection: enabled`, each given the `istio-ca-root-cert` ConfigMap. */
  injectionNamespaces: string[];
  /** The mesh root (PEM): the webhook's caBundle and the ConfigMap's root-cert.pem. Unknown in a bare dry run. */
  rootCertPem?: string;
}

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
} & Record<string, unknown>;

/** Where the caBundle and the root ConfigMap come from when no root was given (a note on both objects). */
export const ROOT_SOURCE_ANNOTATION = 'meshgate.io/root-cert-source';
const ROOT_SOURCE_NOTE =
  'empty: render again with --root-cert FILE, the root-cert.pem of the cacerts Secret the control plane signs with (its mesh root)';

const XDS_PORT = 15012;
const MONITORING_PORT = 15014;
const WEBHOOK_PORT = 15017;

const RESTRICTED = {
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  privileged: false,
  readOnlyRootFilesystem: true,
  runAsGroup: PROXY_UID,
  runAsNonRoot: true,
  runAsUser: PROXY_UID,
};

function suffix(o: InstallOptions): string {
  return o.revision ? `-${o.revision}` : '';
}

function revLabels(o: InstallOptions): Record<string, string> {
  return { 'istio.io/rev': o.revision ?? 'default' };
}

function proxyVolumes(): unknown[] {
  return [
    { name: 'istio-envoy', emptyDir: { medium: 'Memory' } },
    {
      name: 'istio-token',
      projected: {
        sources: [{ serviceAccountToken: { audience: TOKEN_AUDIENCE, expirationSeconds: 43200, path: POD_TOKEN_FILE.split('/').at(-1) } }],
      },
    },
    { name: 'istiod-ca-cert', configMap: { name: ROOT_CERT_CONFIGMAP } },
  ];
}

function proxyMounts(): unknown[] {
  const dir = (f: string): string => f.slice(0, f.lastIndexOf('/'));
  return [
    { name: 'istio-envoy', mountPath: dir(BOOTSTRAP_FILE) },
    { name: 'istio-token', mountPath: dir(POD_TOKEN_FILE), readOnly: true },
    { name: 'istiod-ca-cert', mountPath: dir(POD_ROOT_CERT_FILE), readOnly: true },
  ];
}

function fieldEnv(name: string, fieldPath: string): unknown {
  return { name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } };
}

function gateway(
  o: InstallOptions,
  g: { name: string; istio: string; ports: { name: string; port: number }[]; serviceType: string },
): K8sObject[] {
  const labels = { app: g.name, istio: g.istio };
  const sa = `${g.name}-service-account`;
  const podPorts = [
    ...g.ports.map((p) => ({ containerPort: p.port, name: p.name, protocol: 'TCP' })),
    { containerPort: 15021, name: 'status-port', protocol: 'TCP' },
    { containerPort: 15090, name: 'http-envoy-prom', protocol: 'TCP' },
  ];
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: o.namespace, labels } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: g.name, namespace: o.namespace, labels: { ...labels, ...revLabels(o) } },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: {
            labels: {
              ...labels,
              'sidecar.istio.io/inject': 'false',
              'service.istio.io/canonical-name': g.name,
              'service.istio.io/canonical-revision': 'latest',
              ...revLabels(o),
            },
          },
          spec: {
            serviceAccountName: sa,
            securityContext: { runAsUser: PROXY_UID, runAsGroup: PROXY_UID, runAsNonRoot: true, fsGroup: PROXY_UID },
            containers: [
              {
                name: 'istio-proxy',
                image: o.image,
                command: ['meshgate', 'proxy', '--from-env', '--role', 'router', '--write-bootstrap', BOOTSTRAP_FILE],
                env: [
                  fieldEnv(BOOTSTRAP_ENV.podName, 'metadata.name'),
                  fieldEnv(BOOTSTRAP_ENV.namespace, 'metadata.namespace'),
                  fieldEnv(BOOTSTRAP_ENV.instanceIp, 'status.podIP'),
                  fieldEnv(BOOTSTRAP_ENV.serviceAccount, 'spec.serviceAccountName'),
                  { name: BOOTSTRAP_ENV.discoveryAddress, value: `istiod${suffix(o)}.${o.namespace}.svc:${XDS_PORT}` },
                  { name: BOOTSTRAP_ENV.trustDomain, value: o.trustDomain },
                  { name: BOOTSTRAP_ENV.clusterId, value: o.clusterId },
                  { name: BOOTSTRAP_ENV.labels, value: JSON.stringify(labels) },
                ],
                ports: podPorts,
                readinessProbe: {
                  httpGet: { path: '/healthz/ready', port: 15021 },
                  initialDelaySeconds: 1,
                  periodSeconds: 2,
                  failureThreshold: 30,
                },
                resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2', memory: '1Gi' } },
                securityContext: RESTRICTED,
                volumeMounts: proxyMounts(),
              },
            ],
            volumes: proxyVolumes(),
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: g.name, namespace: o.namespace, labels: { ...labels, ...revLabels(o) } },
      spec: {
        type: g.serviceType,
        selector: labels,
        ports: [
          ...(g.istio === 'ingressgateway' ? [{ name: 'status-port', port: 15021, targetPort: 15021, protocol: 'TCP' }] : []),
          ...g.ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.port, protocol: 'TCP' })),
        ],
      },
    },
  ];
}

function rootConfigMap(o: InstallOptions, namespace: string): K8sObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: ROOT_CERT_CONFIGMAP,
      namespace,
      labels: { 'istio.io/config': 'true' },
      ...(o.rootCertPem ? {} : { annotations: { [ROOT_SOURCE_ANNOTATION]: ROOT_SOURCE_NOTE } }),
    },
    data: { 'root-cert.pem': o.rootCertPem ?? '' },
  };
}

function webhookConfiguration(o: InstallOptions): K8sObject {
  const clientConfig = {
    service: { name: `istiod${suffix(o)}`, namespace: o.namespace, path: '/inject', port: 443 },
    ...(o.rootCertPem ? { caBundle: Buffer.from(o.rootCertPem).toString('base64') } : {}),
  };
  const common = {
    clientConfig,
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    failurePolicy: 'Fail',
    reinvocationPolicy: 'Never',
    timeoutSeconds: 10,
  };
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: {
      name: `istio-sidecar-injector${suffix(o)}`,
      labels: { app: 'sidecar-injector', ...revLabels(o) },
      ...(o.rootCertPem ? {} : { annotations: { [ROOT_SOURCE_ANNOTATION]: `caBundle ${ROOT_SOURCE_NOTE}` } }),
    },
    webhooks: [
      // Istio's two selectors: namespaces that opted in (minus pods that opted out), and pods that opted
      // in where their namespace says nothing.
      {
        name: 'namespace.sidecar-injector.istio.io',
        ...common,
        namespaceSelector: { matchLabels: { 'istio-injection': 'enabled' } },
        objectSelector: { matchExpressions: [{ key: 'sidecar.istio.io/inject', operator: 'NotIn', values: ['false'] }] },
      },
      {
        name: 'object.sidecar-injector.istio.io',
        ...common,
        namespaceSelector: {
          matchExpressions: [
            { key: 'istio-injection', operator: 'DoesNotExist' },
            { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-public'] },
          ],
        },
        objectSelector: { matchExpressions: [{ key: 'sidecar.istio.io/inject', operator: 'In', values: ['true'] }] },
      },
    ],
  };
}

function controlPlane(o: InstallOptions): K8sObject[] {
  const name = `istiod${suffix(o)}`;
  const labels = { app: 'istiod', istio: 'pilot', ...revLabels(o) };
  const roleName = `istiod${suffix(o)}-${o.namespace}`;
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: o.namespace, labels } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: roleName, labels },
      // Read-only, and only the kinds the control plane reads: its config and the workloads it serves.
      rules: [
        { apiGroups: [''], resources: ['pods', 'services', 'namespaces'], verbs: ['get', 'list', 'watch'] },
        {
          apiGroups: ['networking.istio.io'],
          resources: ['serviceentries', 'virtualservices', 'destinationrules', 'gateways', 'sidecars'],
          verbs: ['get', 'list', 'watch'],
        },
        { apiGroups: ['security.istio.io'], resources: ['peerauthentications', 'authorizationpolicies'], verbs: ['get', 'list', 'watch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: roleName, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roleName },
      subjects: [{ kind: 'ServiceAccount', name, namespace: o.namespace }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name, namespace: o.namespace, labels },
      // Secrets only in its own namespace, where the gateways' credentialName secrets live (Istio looks
      // them up in the gateway's namespace); never cluster-wide.
      rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name, namespace: o.namespace, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace: o.namespace }],
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: o.namespace, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'istiod', ...revLabels(o) } },
        template: {
          metadata: { labels: { ...labels, 'sidecar.istio.io/inject': 'false' } },
          spec: {
            serviceAccountName: name,
            securityContext: { runAsUser: PROXY_UID, runAsGroup: PROXY_UID, runAsNonRoot: true, fsGroup: PROXY_UID },
            containers: [
              {
                name: 'discovery',
                image: o.image,
                command: [
                  'meshgate',
                  'control-plane',
                  '--config',
                  '/etc/meshgate/config',
                  '--cluster-id',
                  o.clusterId,
                  '--trust-domain',
                  o.trustDomain,
                  '--listen',
                  `0.0.0.0:${XDS_PORT}`,
                  '--http-listen',
                  `0.0.0.0:${MONITORING_PORT}`,
                  '--ca-dir',
                  '/etc/cacerts',
                  '--state-dir',
                  '/var/lib/meshgate',
                  '--token-public-key',
                  '/etc/meshgate/token-keys/sa.pub',
                  '--injection-webhook-listen',
                  `0.0.0.0:${WEBHOOK_PORT}`,
                  '--injection-image',
                  o.image,
                  '--system-namespace',
                  o.namespace,
                  ...(o.revision ? ['--revision', o.revision] : []),
                ],
                ports: [
                  { containerPort: XDS_PORT, name: 'grpc-xds', protocol: 'TCP' },
                  { containerPort: MONITORING_PORT, name: 'http-monitoring', protocol: 'TCP' },
                  { containerPort: WEBHOOK_PORT, name: 'https-webhook', protocol: 'TCP' },
                ],
                readinessProbe: { httpGet: { path: '/ready', port: MONITORING_PORT }, initialDelaySeconds: 1, periodSeconds: 3 },
                resources: { requests: { cpu: '500m', memory: '512Mi' } },
                securityContext: RESTRICTED,
                volumeMounts: [
                  { name: 'cacerts', mountPath: '/etc/cacerts', readOnly: true },
                  { name: 'mesh-config', mountPath: '/etc/meshgate/config', readOnly: true },
                  { name: 'token-keys', mountPath: '/etc/meshgate/token-keys', readOnly: true },
                  { name: 'state', mountPath: '/var/lib/meshgate' },
                ],
              },
            ],
            volumes: [
              // Istio's plugged-in CA layout; the root in it is what caBundle and istio-ca-root-cert carry.
              { name: 'cacerts', secret: { secretName: 'cacerts' } },
              // The Istio YAML the control plane serves (a folder source until it reads the API server).
              { name: 'mesh-config', configMap: { name: 'meshgate-mesh-config', optional: true } },
              // The public key(s) the cluster signs service-account tokens with (sa.pub).
              { name: 'token-keys', configMap: { name: 'meshgate-token-keys' } },
              { name: 'state', emptyDir: {} },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: o.namespace, labels },
      spec: {
        selector: { app: 'istiod', ...revLabels(o) },
        ports: [
          { name: 'grpc-xds', port: XDS_PORT, targetPort: XDS_PORT, protocol: 'TCP' },
          { name: 'http-monitoring', port: MONITORING_PORT, targetPort: MONITORING_PORT, protocol: 'TCP' },
          { name: 'https-webhook', port: 443, targetPort: WEBHOOK_PORT, protocol: 'TCP' },
        ],
      },
    },
  ];
}

export function renderInstall(o: InstallOptions): K8sObject[] {
  const injected = o.injectionNamespaces.filter((ns) => ns !== o.namespace);
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: o.namespace, labels: { 'kubernetes.io/metadata.name': o.namespace } } },
    // `kubectl label namespace NS istio-injection=enabled`, as objects.
    ...injected.map((ns): K8sObject => ({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: ns, labels: { 'kubernetes.io/metadata.name': ns, 'istio-injection': 'enabled' } },
    })),
    ...controlPlane(o),
    webhookConfiguration(o),
    // Istio's istiod writes this ConfigMap into every namespace; meshgate renders it for the ones named.
    rootConfigMap(o, o.namespace),
    ...injected.map((ns) => rootConfigMap(o, ns)),
    ...gateway(o, {
      name: 'istio-ingressgateway',
      istio: 'ingressgateway',
      serviceType: 'LoadBalancer',
      ports: [
        { name: 'tls-mysql', port: 13306 },
        { name: 'tls', port: 15443 },
      ],
    }),
    ...gateway(o, { name: 'istio-egressgateway', istio: 'egressgateway', serviceType: 'ClusterIP', ports: [{ name: 'tls', port: 15443 }] }),
  ];
}

/** The options `meshgate install` starts from (and `manifests/` is rendered with). */
export function defaultInstallOptions(version: string): InstallOptions {
  return {
    image: `meshgate:${version}`,
    namespace: 'istio-system',
    trustDomain: 'cluster.local',
    clusterId: 'Kubernetes',
    injectionNamespaces: ['default'],
  };
}
