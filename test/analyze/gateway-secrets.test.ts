// Gateway credentials (IST0101 credentialName, IST0161 InvalidGatewayCredential) with real
// certificates issued by meshgate's PKI, in Istio's accepted Secret formats.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { issueCertificate } from '../../src/pki/certificate.js';
import { generateKeyPair } from '../../src/pki/keys.js';
import { analyzeText } from './analyze-helpers.js';

const GATEWAY = `apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
 name: gateway-mysql
spec:
 selector:
   istio: ingressgateway
 servers:
 - port:
     number: 443
     name: tls-mysql
     protocol: TLS
   tls:
     mode: MUTUAL
     credentialName: mysql-credential
   hosts:
   - "mysql.fqdn.example"
`;
const only = ['gateway.SecretAnalyzer'];
const b64 = (s: string) => Buffer.from(s).toString('base64');
let valid = { cert: '', key: '' };
let expired = { cert: '', key: '' };

before(async () => {
  const k = await generateKeyPair('ec-p256');
  const issue = (now: Date) =>
    issueCertificate({
      subject: 'CN=mysql.fqdn.example',
      publicKeyPem: k.publicKeyPem,
      issuer: 'self',
      selfPrivateKeyPem: k.privateKeyPem,
      dns: ['mysql.fqdn.example'],
      ttlSeconds: 3600,
      now,
    });
  valid = { cert: await issue(new Date()), key: k.privateKeyPem };
  expired = { cert: await issue(new Date('2020-01-01T00:00:00Z')), key: k.privateKeyPem };
});

function secret(name: string, data: Record<string, string>, ns = 'istio-system'): string {
  return `---\napiVersion: v1\nkind: Secret\nmetadata: {name: ${name}, namespace: ${ns}}\ndata:\n${Object.entries(data)
    .map(([k, v]) => `  ${k}: ${b64(v)}\n`)
    .join('')}`;
}

test('credentialName must name a Secret in the gateway workload namespace', () => {
  const msg =
    'in.yaml:15:6: Error [IST0101] (Gateway default/gateway-mysql) spec.servers[0].tls.credentialName: Referenced credentialName not found: "mysql-credential"';
  assert.deepEqual(analyzeText(GATEWAY, { only }), [msg]);
  // A Secret in the Gateway object's namespace does not count: Istio reads it from the workload's (istio-system).
  assert.deepEqual(
    analyzeText(GATEWAY + secret('mysql-credential', { 'tls.crt': valid.cert, 'tls.key': valid.key, 'ca.crt': valid.cert }, 'default'), {
      only,
    }),
    [msg],
  );
});

test('a usable credential in either of Istio formats is accepted', () => {
  assert.deepEqual(
    analyzeText(GATEWAY + secret('mysql-credential', { 'tls.crt': valid.cert, 'tls.key': valid.key, 'ca.crt': valid.cert }), { only }),
    [],
  );
  assert.deepEqual(
    analyzeText(GATEWAY + secret('mysql-credential', { cert: valid.cert, key: valid.key, cacert: valid.cert }), { only }),
    [],
  );
  assert.deepEqual(
    analyzeText(
      GATEWAY +
        secret('mysql-credential', { 'tls.crt': valid.cert, 'tls.key': valid.key }) +
        secret('mysql-credential-cacert', { 'ca.crt': valid.cert }),
      { only },
    ),
    [],
    'the separate <name>-cacert Secret',
  );
});

test('an unusable credential is IST0161, with the reason', () => {
  const head =
    'in.yaml:15:6: Error [IST0161] (Gateway default/gateway-mysql) spec.servers[0].tls.credentialName: The credential referenced by the Gateway gateway-mysql in namespace default is invalid, which can cause the traffic not to work as expected.';
  assert.deepEqual(analyzeText(GATEWAY + secret('mysql-credential', { 'ca.crt': valid.cert }), { only }), [
    `${head} (Secret istio-system/mysql-credential has neither tls.crt/tls.key nor cert/key)`,
  ]);
  assert.deepEqual(analyzeText(GATEWAY + secret('mysql-credential', { 'tls.crt': valid.cert, 'tls.key': valid.key }), { only }), [
    `${head} (MUTUAL TLS needs a CA certificate: Secret istio-system/mysql-credential has no ca.crt or cacert, and there is no mysql-credential-cacert Secret)`,
  ]);
  const [exp] = analyzeText(
    GATEWAY + secret('mysql-credential', { 'tls.crt': expired.cert, 'tls.key': expired.key, 'ca.crt': valid.cert }),
    { only },
  );
  assert.match(exp ?? '', /\(the certificate in Secret istio-system\/mysql-credential expired on 2020-01-01T01:00:00\.000Z\)$/);
  const [garbage] = analyzeText(GATEWAY + secret('mysql-credential', { 'tls.crt': 'not a certificate', 'tls.key': 'x', 'ca.crt': 'y' }), {
    only,
  });
  assert.match(garbage ?? '', /\(the certificate in Secret istio-system\/mysql-credential cannot be parsed: /);
});
