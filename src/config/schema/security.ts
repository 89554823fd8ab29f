// security.istio.io PeerAuthentication and AuthorizationPolicy
// (https://istio.io/latest/docs/reference/config/security/).
import { z } from 'zod';
import { kubeObject, obj, policyTargetReference, str, strList, typeWorkloadSelector } from './common.js';

const mtlsMode = z.enum(['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT']);

export const peerAuthenticationSpec = obj({
  selector: typeWorkloadSelector.optional(),
  mtls: obj({ mode: mtlsMode.optional() }).optional(),
  portLevelMtls: z.record(z.string().regex(/^\d+$/, 'expected a port number as the key'), obj({ mode: mtlsMode.optional() })).optional(),
});

const source = obj({
  principals: strList.optional(),
  notPrincipals: strList.optional(),
  requestPrincipals: strList.optional(),
  notRequestPrincipals: strList.optional(),
  namespaces: strList.optional(),
  notNamespaces: strList.optional(),
  ipBlocks: strList.optional(),
  notIpBlocks: strList.optional(),
  remoteIpBlocks: strList.optional(),
  notRemoteIpBlocks: strList.optional(),
  serviceAccounts: strList.optional(),
  notServiceAccounts: strList.optional(),
});

const operation = obj({
  ports: strList.optional(),
  notPorts: strList.optional(),
  hosts: strList.optional(),
  notHosts: strList.optional(),
  methods: strList.optional(),
  notMethods: strList.optional(),
  paths: strList.optional(),
  notPaths: strList.optional(),
});

export const authorizationPolicySpec = obj({
  selector: typeWorkloadSelector.optional(),
  targetRef: policyTargetReference.optional(),
  targetRefs: z.array(policyTargetReference).optional(),
  rules: z
    .array(
      obj({
        from: z.array(obj({ source })).optional(),
        to: z.array(obj({ operation })).optional(),
        when: z.array(obj({ key: str, values: strList.optional(), notValues: strList.optional() })).optional(),
      }),
    )
    .optional(),
  action: z.enum(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM']).optional(),
  provider: obj({ name: str }).optional(),
});

// An empty spec is legal for both (PeerAuthentication {} and AuthorizationPolicy {} mean "allow nothing").
export const peerAuthenticationSchema = kubeObject(peerAuthenticationSpec, false);
export const authorizationPolicySchema = kubeObject(authorizationPolicySpec, false);
