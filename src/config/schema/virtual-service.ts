// networking.istio.io VirtualService (https://istio.io/latest/docs/reference/config/networking/virtual-service/).
// TCP and TLS routes are checked field by field; HTTP routes are checked at the route level and kept
// as they are (meshgate's data plane is L4 and reports them as unsupported).
import { z } from 'zod';
import {
  anyMap,
  destination,
  duration,
  exportTo,
  host,
  int,
  kubeObject,
  obj,
  portNumber,
  str,
  strList,
  stringMap,
  uint32,
} from './common.js';

const routeDestination = obj({
  destination,
  weight: int.min(0, 'expected a weight between 0 and 100').max(100, 'expected a weight between 0 and 100').optional(),
});

const l4Match = {
  destinationSubnets: strList.optional(),
  port: portNumber.optional(),
  sourceLabels: stringMap.optional(),
  gateways: strList.optional(),
  sourceNamespace: str.optional(),
  sourceSubnet: str.optional(),
};

export const tcpRoute = obj({ match: z.array(obj(l4Match)).optional(), route: z.array(routeDestination).optional() });
export const tlsRoute = obj({
  match: z
    .array(obj({ ...l4Match, sniHosts: z.array(z.string()).min(1, 'expected at least one SNI host') }))
    .min(1, 'expected at least one match'),
  route: z.array(routeDestination).optional(),
});

const httpRouteDestination = obj({ destination, weight: int.optional(), headers: anyMap.optional() });

export const httpRoute = obj({
  name: str.optional(),
  match: z.array(anyMap).optional(),
  route: z.array(httpRouteDestination).optional(),
  redirect: anyMap.optional(),
  directResponse: anyMap.optional(),
  delegate: obj({ name: str.optional(), namespace: str.optional() }).optional(),
  rewrite: anyMap.optional(),
  timeout: duration.optional(),
  retries: anyMap.optional(),
  fault: anyMap.optional(),
  mirror: destination.optional(),
  mirrors: z.array(anyMap).optional(),
  mirrorPercentage: anyMap.optional(),
  mirrorPercent: uint32.optional(),
  corsPolicy: anyMap.optional(),
  headers: anyMap.optional(),
});

export const virtualServiceSpec = obj({
  hosts: z.array(host).optional(),
  gateways: strList.optional(),
  http: z.array(httpRoute).optional(),
  tls: z.array(tlsRoute).optional(),
  tcp: z.array(tcpRoute).optional(),
  exportTo: exportTo.optional(),
});

export const virtualServiceSchema = kubeObject(virtualServiceSpec);
