// Kubernetes core/v1: Service, Secret, Namespace, ServiceAccount, Pod — the fields meshgate reads are
// checked; the rest of the Kubernetes object is accepted as it is (it is Kubernetes', not Istio's).
import { z } from 'zod';
import { anyMap, bool, int, objectMeta, obj, portNumber, str, strList, stringMap } from './common.js';

export const kubeServicePort = obj({
  name: str.optional(),
  protocol: z.enum(['TCP', 'UDP', 'SCTP']).optional(),
  appProtocol: str.optional(),
  port: portNumber,
  targetPort: z.union([portNumber, z.string().min(1)], { error: 'expected a port number or a port name' }).optional(),
  nodePort: portNumber.optional(),
});

export const serviceSpec = obj({
  selector: stringMap.optional(),
  ports: z.array(kubeServicePort).optional(),
  clusterIP: str.optional(),
  clusterIPs: strList.optional(),
  type: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']).optional(),
  externalName: str.optional(),
  loadBalancerIP: str.optional(),
  loadBalancerSourceRanges: strList.optional(),
  loadBalancerClass: str.optional(),
  externalIPs: strList.optional(),
  externalTrafficPolicy: z.enum(['Cluster', 'Local']).optional(),
  internalTrafficPolicy: z.enum(['Cluster', 'Local']).optional(),
  healthCheckNodePort: int.optional(),
  publishNotReadyAddresses: bool.optional(),
  sessionAffinity: z.enum(['None', 'ClientIP']).optional(),
  sessionAffinityConfig: anyMap.optional(),
  ipFamilies: strList.optional(),
  ipFamilyPolicy: z.enum(['SingleStack', 'PreferDualStack', 'RequireDualStack']).optional(),
  allocateLoadBalancerNodePorts: bool.optional(),
  trafficDistribution: str.optional(),
});

export const serviceSchema = obj({
  apiVersion: str,
  kind: str,
  metadata: objectMeta,
  spec: serviceSpec.optional(),
  status: anyMap.optional(),
});

const BASE64 = /^[A-Za-z0-9+/\r\n]*={0,2}[\r\n]*$/;

export const secretSchema = obj({
  apiVersion: str,
  kind: str,
  metadata: objectMeta,
  type: str.optional(),
  immutable: bool.optional(),
  data: z
    .record(
      z.string(),
      z.string().refine((s) => BASE64.test(s), 'expected base64 data'),
    )
    .optional(),
  stringData: stringMap.optional(),
});

export const namespaceSchema = obj({
  apiVersion: str,
  kind: str,
  metadata: objectMeta,
  spec: obj({ finalizers: strList.optional() }).optional(),
  status: anyMap.optional(),
});

export const serviceAccountSchema = obj({
  apiVersion: str,
  kind: str,
  metadata: objectMeta,
  secrets: z.array(anyMap).optional(),
  imagePullSecrets: z.array(anyMap).optional(),
  automountServiceAccountToken: bool.optional(),
});

export const podSchema = obj({
  apiVersion: str,
  kind: str,
  metadata: objectMeta,
  spec: z
    .looseObject({
      serviceAccountName: str.optional(),
      containers: z
        .array(z.looseObject({ name: str, ports: z.array(z.looseObject({ containerPort: portNumber, name: str.optional() })).optional() }))
        .optional(),
    })
    .optional(),
  status: z
    .looseObject({
      podIP: str.optional(),
      podIPs: z.array(z.looseObject({ ip: str })).optional(),
      phase: str.optional(),
      conditions: z.array(z.looseObject({ type: str, status: str })).optional(),
    })
    .optional(),
});
