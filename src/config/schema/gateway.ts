// networking.istio.io Gateway (https://istio.io/latest/docs/reference/config/networking/gateway/).
import { z } from 'zod';
import { bool, istioPort, kubeObject, obj, str, strList, stringMap } from './common.js';

const tlsVersion = z.enum(['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3']);

export const serverTlsSettings = obj({
  httpsRedirect: bool.optional(),
  mode: z.enum(['PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL']).optional(),
  serverCertificate: str.optional(),
  privateKey: str.optional(),
  caCertificates: str.optional(),
  caCrl: str.optional(),
  credentialName: str.optional(),
  credentialNames: strList.optional(),
  tlsCertificates: z
    .array(obj({ serverCertificate: str.optional(), privateKey: str.optional(), caCertificates: str.optional() }))
    .optional(),
  subjectAltNames: strList.optional(),
  verifyCertificateSpki: strList.optional(),
  verifyCertificateHash: strList.optional(),
  minProtocolVersion: tlsVersion.optional(),
  maxProtocolVersion: tlsVersion.optional(),
  cipherSuites: strList.optional(),
});

export const gatewayServer = obj({
  port: istioPort.extend({ name: str, protocol: istioPort.shape.protocol.unwrap() }),
  bind: str.optional(),
  hosts: z.array(z.string().min(1, 'expected a non-empty host')).min(1, 'expected at least one host'),
  tls: serverTlsSettings.optional(),
  defaultEndpoint: str.optional(),
  name: str.optional(),
});

export const gatewaySpec = obj({
  servers: z.array(gatewayServer).min(1, 'expected at least one server'),
  selector: stringMap.optional(),
});

export const gatewaySchema = kubeObject(gatewaySpec);
