// networking.istio.io ServiceEntry (https://istio.io/latest/docs/reference/config/networking/service-entry/).
import { z } from 'zod';
import { exportTo, host, istioPort, kubeObject, obj, str, strList, stringMap, uint32 } from './common.js';

export const workloadEntrySpec = obj({
  address: str.optional(),
  ports: z
    .record(
      z.string(),
      z.int().min(1, 'expected a port number between 1 and 65535').max(65535, 'expected a port number between 1 and 65535'),
    )
    .optional(),
  labels: stringMap.optional(),
  network: str.optional(),
  locality: str.optional(),
  weight: uint32.optional(),
  serviceAccount: str.optional(),
});

/** networking.v1.ServicePort: unlike a Sidecar's or a Gateway's Port, its name is required in Istio's API. */
export const servicePort = istioPort.extend({ name: str });

export const serviceEntrySpec = obj({
  hosts: z.array(host).min(1, 'expected at least one host'),
  addresses: strList.optional(),
  ports: z.array(servicePort).optional(),
  location: z.enum(['MESH_EXTERNAL', 'MESH_INTERNAL']).optional(),
  resolution: z.enum(['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS']).optional(),
  endpoints: z.array(workloadEntrySpec).optional(),
  workloadSelector: obj({ labels: stringMap.optional() }).optional(),
  exportTo: exportTo.optional(),
  subjectAltNames: strList.optional(),
});

export const serviceEntrySchema = kubeObject(serviceEntrySpec);
