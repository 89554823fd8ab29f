// networking.istio.io Sidecar (https://istio.io/latest/docs/reference/config/networking/sidecar/).
import { z } from 'zod';
import { anyMap, destination, istioPort, kubeObject, obj, str, stringMap } from './common.js';
import { connectionPoolSettings } from './destination-rule.js';
import { serverTlsSettings } from './gateway.js';

const captureMode = z.enum(['DEFAULT', 'IPTABLES', 'NONE']);

export const sidecarSpec = obj({
  workloadSelector: obj({ labels: stringMap.optional() }).optional(),
  ingress: z
    .array(
      obj({
        port: istioPort,
        bind: str.optional(),
        captureMode: captureMode.optional(),
        defaultEndpoint: str.optional(),
        tls: serverTlsSettings.optional(),
        connectionPool: connectionPoolSettings.optional(),
      }),
    )
    .optional(),
  egress: z
    .array(
      obj({
        port: istioPort.optional(),
        bind: str.optional(),
        captureMode: captureMode.optional(),
        hosts: z
          .array(z.string().regex(/^[^/]+\/[^/]+$/, 'expected "namespace/dnsName" (for example "./*" or "istio-system/*")'))
          .min(1, 'expected at least one host'),
      }),
    )
    .optional(),
  inboundConnectionPool: connectionPoolSettings.optional(),
  outboundTrafficPolicy: obj({ mode: z.enum(['REGISTRY_ONLY', 'ALLOW_ANY']).optional(), egressProxy: destination.optional() }).optional(),
  // Envoy-level settings Istio also accepts here; kept as they are.
  proxyConfig: anyMap.optional(),
});

export const sidecarSchema = kubeObject(sidecarSpec);
