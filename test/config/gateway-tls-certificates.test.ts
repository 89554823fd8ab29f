// A Gateway server's `tls.tlsCertificates` is Istio config meshgate does not serve: it is refused with an
// Error naming the field, and it never counts as the server's certificate. Before, such a Gateway
// validated (the field passed as a credential) and its listener was served without any certificate.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { loadConfigText } from '../../src/config/load.js';

const gateway = (tls: string): string =>
  [
    'apiVersion: networking.istio.io/v1',
    'kind: Gateway',
    'metadata: {name: edge, namespace: shop}',
    'spec:',
    '  selector: {istio: ingressgateway}',
    '  servers:',
    '  - port: {number: 443, name: tls, protocol: TLS}',
    '    hosts: [shop.example.com]',
    `    tls: ${tls}`,
    '',
  ].join('\n');

const NOT_SERVED =
  'tlsCertificates is not served by meshgate: give the server certificate as credentialName, or as serverCertificate and privateKey';

test('a SIMPLE Gateway server whose only certificate is tls.tlsCertificates is refused, naming the field', () => {
  const r = loadConfigText(
    gateway('{mode: SIMPLE, tlsCertificates: [{serverCertificate: /etc/certs/cert.pem, privateKey: /etc/certs/key.pem}]}'),
    'gw.yaml',
  );
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
    `gw.yaml:9:42: Error [IST0106] (Gateway shop/edge) spec.servers[0].tls.tlsCertificates: ${NOT_SERVED}`,
    'gw.yaml:9:5: Error [IST0106] (Gateway shop/edge) spec.servers[0].tls.serverCertificate: SIMPLE TLS requires a server certificate',
    'gw.yaml:9:5: Error [IST0106] (Gateway shop/edge) spec.servers[0].tls.privateKey: SIMPLE TLS requires a private key',
  ]);
  assert.equal(r.objects.length, 0, 'the Gateway is not kept, so no listener is served without a certificate');
});

test('tls.tlsCertificates beside a credentialName is still refused: the field is never silently dropped', () => {
  const r = loadConfigText(
    gateway('{mode: SIMPLE, credentialName: shop-cert, tlsCertificates: [{serverCertificate: /c.pem, privateKey: /k.pem}]}'),
    'gw.yaml',
  );
  assert.deepEqual(
    r.diagnostics.map((d) => `${d.level} ${d.code} ${d.field}: ${d.message}`),
    [`Error IST0106 spec.servers[0].tls.tlsCertificates: ${NOT_SERVED}`],
  );
  assert.equal(r.objects.length, 0);
});

test('the same server with credentialName alone loads without diagnostics', () => {
  const r = loadConfigText(gateway('{mode: SIMPLE, credentialName: shop-cert}'), 'gw.yaml');
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), []);
  assert.equal(r.objects.length, 1);
});
