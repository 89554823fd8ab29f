// Building blocks shared by the per-kind schemas. Objects are strict so that unknown fields surface
// (the loader turns those issues into Warnings, as kubectl does); types, enums and ranges are Errors.
import { z } from 'zod';
import { isDuration } from '../duration.js';
import { validateHostName } from '../hosts.js';

export const obj = z.strictObject;

export const str = z.string();
export const bool = z.boolean();
export const int = z.int();
export const uint32 = z.int().min(0, 'expected a non-negative integer').max(4294967295, 'expected an integer below 2^32');
export const portNumber = z
  .int()
  .min(1, 'expected a port number between 1 and 65535')
  .max(65535, 'expected a port number between 1 and 65535');
export const strList = z.array(z.string());
export const stringMap = z.record(z.string(), z.string());
/** Fields Istio keeps but meshgate does not interpret: any mapping is accepted as it is. */
export const anyMap = z.record(z.string(), z.unknown());

/** A protobuf Duration in its YAML form: `10s`, `500ms`, `1h`. */
export const duration = z.string().refine(isDuration, 'expected a duration like "10s", "500ms" or "1h"');

export const host = z.string().superRefine((h, ctx) => {
  const problem = validateHostName(h);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** `exportTo` entries: `*`, `.`, `~` or a namespace name. */
export const exportTo = z.array(
  z
    .string()
    .refine(
      (s) => s === '*' || s === '.' || s === '~' || /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(s),
      'expected "*", ".", "~" or a namespace name',
    ),
);

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export const objectMeta = obj({
  name: z.string().refine((s) => s.length <= 253 && DNS_SUBDOMAIN.test(s), 'expected a lower-case RFC 1123 name (a-z, 0-9, "-", ".")'),
  namespace: z
    .string()
    .refine((s) => DNS_LABEL.test(s), 'expected a lower-case RFC 1123 label (a-z, 0-9, "-"), at most 63 characters')
    .optional(),
  labels: stringMap.optional(),
  annotations: stringMap.optional(),
  resourceVersion: str.optional(),
  generation: int.optional(),
  uid: str.optional(),
  generateName: str.optional(),
  creationTimestamp: z.union([z.string(), z.null()]).optional(),
  deletionTimestamp: str.optional(),
  deletionGracePeriodSeconds: int.optional(),
  ownerReferences: z.array(anyMap).optional(),
  finalizers: strList.optional(),
  managedFields: z.array(anyMap).optional(),
  selfLink: str.optional(),
});

/** istio.type.v1beta1.WorkloadSelector (`matchLabels`). */
export const typeWorkloadSelector = obj({ matchLabels: stringMap.optional() });

/** istio.type.v1beta1.PolicyTargetReference. */
export const policyTargetReference = obj({ group: str.optional(), kind: str, name: str, namespace: str.optional() });

export const istioProtocol = z
  .string()
  .refine(
    (p) =>
      ['HTTP', 'HTTPS', 'GRPC', 'GRPC-WEB', 'HTTP2', 'MONGO', 'MYSQL', 'REDIS', 'TCP', 'TLS', 'UDP', 'HTTP_PROXY'].includes(
        p.toUpperCase(),
      ),
    'expected one of HTTP, HTTPS, GRPC, GRPC-WEB, HTTP2, MONGO, MYSQL, REDIS, TCP, TLS, UDP',
  );

/** networking.v1alpha3.Port (ServiceEntry, Gateway, Sidecar). */
export const istioPort = obj({
  number: portNumber,
  protocol: istioProtocol.optional(),
  name: str.optional(),
  targetPort: portNumber.optional(),
});

export const portSelector = obj({ number: portNumber.optional() });

export const destination = obj({ host: host, subset: str.optional(), port: portSelector.optional() });

export function kubeObject<S extends z.ZodType>(spec: S, specRequired = true) {
  return obj({
    apiVersion: str,
    kind: str,
    metadata: objectMeta,
    spec: specRequired ? spec : spec.optional(),
    status: anyMap.optional(),
  });
}
