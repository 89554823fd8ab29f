// networking.istio.io DestinationRule (https://istio.io/latest/docs/reference/config/networking/destination-rule/).
import { z } from 'zod';
import {
  anyMap,
  bool,
  duration,
  exportTo,
  host,
  int,
  kubeObject,
  obj,
  portSelector,
  str,
  strList,
  stringMap,
  typeWorkloadSelector,
  uint32,
} from './common.js';

export const clientTlsSettings = obj({
  mode: z.enum(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL']).optional(),
  clientCertificate: str.optional(),
  privateKey: str.optional(),
  caCertificates: str.optional(),
  caCrl: str.optional(),
  credentialName: str.optional(),
  subjectAltNames: strList.optional(),
  sni: str.optional(),
  insecureSkipVerify: bool.optional(),
});

const consistentHash = obj({
  httpHeaderName: str.optional(),
  httpCookie: obj({ name: str, path: str.optional(), ttl: duration.optional(), attributes: z.array(anyMap).optional() }).optional(),
  useSourceIp: bool.optional(),
  httpQueryParameterName: str.optional(),
  ringHash: obj({ minimumRingSize: uint32.optional() }).optional(),
  maglev: obj({ tableSize: uint32.optional() }).optional(),
  minimumRingSize: uint32.optional(),
});

const localityLbSetting = obj({
  distribute: z.array(obj({ from: str.optional(), to: z.record(z.string(), uint32).optional() })).optional(),
  failover: z.array(obj({ from: str.optional(), to: str.optional() })).optional(),
  failoverPriority: strList.optional(),
  enabled: bool.optional(),
});

export const loadBalancerSettings = obj({
  simple: z.enum(['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST']).optional(),
  consistentHash: consistentHash.optional(),
  localityLbSetting: localityLbSetting.optional(),
  warmupDurationSecs: duration.optional(),
  warmup: obj({
    duration: duration.optional(),
    minimumPercent: anyMap.or(z.number()).optional(),
    aggression: anyMap.or(z.number()).optional(),
  }).optional(),
});

export const tcpSettings = obj({
  maxConnections: int.optional(),
  connectTimeout: duration.optional(),
  tcpKeepalive: obj({ probes: uint32.optional(), time: duration.optional(), interval: duration.optional() }).optional(),
  maxConnectionDuration: duration.optional(),
  idleTimeout: duration.optional(),
});

const httpSettings = obj({
  http1MaxPendingRequests: int.optional(),
  http2MaxRequests: int.optional(),
  maxRequestsPerConnection: int.optional(),
  maxRetries: int.optional(),
  idleTimeout: duration.optional(),
  h2UpgradePolicy: z.enum(['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE']).optional(),
  useClientProtocol: bool.optional(),
  maxConcurrentStreams: int.optional(),
});

export const connectionPoolSettings = obj({ tcp: tcpSettings.optional(), http: httpSettings.optional() });

export const outlierDetection = obj({
  splitExternalLocalOriginErrors: bool.optional(),
  consecutiveLocalOriginFailures: uint32.optional(),
  consecutiveGatewayErrors: uint32.optional(),
  consecutive5xxErrors: uint32.optional(),
  consecutiveErrors: int.optional(),
  interval: duration.optional(),
  baseEjectionTime: duration.optional(),
  maxEjectionPercent: int.min(0, 'expected a percentage between 0 and 100').max(100, 'expected a percentage between 0 and 100').optional(),
  minHealthPercent: int.min(0, 'expected a percentage between 0 and 100').max(100, 'expected a percentage between 0 and 100').optional(),
});

const portTrafficPolicy = obj({
  port: portSelector.optional(),
  loadBalancer: loadBalancerSettings.optional(),
  connectionPool: connectionPoolSettings.optional(),
  outlierDetection: outlierDetection.optional(),
  tls: clientTlsSettings.optional(),
});

export const trafficPolicy = obj({
  loadBalancer: loadBalancerSettings.optional(),
  connectionPool: connectionPoolSettings.optional(),
  outlierDetection: outlierDetection.optional(),
  tls: clientTlsSettings.optional(),
  portLevelSettings: z.array(portTrafficPolicy).optional(),
  tunnel: obj({ protocol: str.optional(), targetHost: str, targetPort: uint32 }).optional(),
  proxyProtocol: obj({ version: z.enum(['V1', 'V2']).optional() }).optional(),
});

export const subset = obj({
  name: str.min(1, 'expected a non-empty subset name'),
  labels: stringMap.optional(),
  trafficPolicy: trafficPolicy.optional(),
});

export const destinationRuleSpec = obj({
  host,
  trafficPolicy: trafficPolicy.optional(),
  subsets: z.array(subset).optional(),
  exportTo: exportTo.optional(),
  workloadSelector: typeWorkloadSelector.optional(),
});

export const destinationRuleSchema = kubeObject(destinationRuleSpec);
