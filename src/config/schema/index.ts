// Which schema checks which kind, and under which apiVersions each kind is served.
import type { z } from 'zod';
import { podSchema, namespaceSchema, secretSchema, serviceAccountSchema, serviceSchema } from './core.js';
import { destinationRuleSchema } from './destination-rule.js';
import { gatewaySchema } from './gateway.js';
import { authorizationPolicySchema, peerAuthenticationSchema } from './security.js';
import { serviceEntrySchema } from './service-entry.js';
import { sidecarSchema } from './sidecar.js';
import { virtualServiceSchema } from './virtual-service.js';

export interface KindSchema {
  apiVersions: readonly string[];
  schema: z.ZodType;
}

const networking = ['networking.istio.io/v1alpha3', 'networking.istio.io/v1beta1', 'networking.istio.io/v1'];
const security = ['security.istio.io/v1beta1', 'security.istio.io/v1'];
const core = ['v1'];

export const KIND_SCHEMAS: Readonly<Record<string, KindSchema>> = {
  ServiceEntry: { apiVersions: networking, schema: serviceEntrySchema },
  VirtualService: { apiVersions: networking, schema: virtualServiceSchema },
  DestinationRule: { apiVersions: networking, schema: destinationRuleSchema },
  Gateway: { apiVersions: networking, schema: gatewaySchema },
  Sidecar: { apiVersions: networking, schema: sidecarSchema },
  PeerAuthentication: { apiVersions: security, schema: peerAuthenticationSchema },
  AuthorizationPolicy: { apiVersions: security, schema: authorizationPolicySchema },
  Service: { apiVersions: core, schema: serviceSchema },
  Secret: { apiVersions: core, schema: secretSchema },
  Namespace: { apiVersions: core, schema: namespaceSchema },
  ServiceAccount: { apiVersions: core, schema: serviceAccountSchema },
  Pod: { apiVersions: core, schema: podSchema },
};
