// Key redaction shared by every dump (control plane /debug/config_dump, proxy admin /config_dump,
// proxy-config, proxy-status) and the Host/Origin checks shared by both debug HTTP servers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair } from '../../src/pki/keys.js';
import { issueCertificate } from '../../src/pki/certificate.js';
import { REDACTED, redactSecrets } from '../../src/xds/redact.js';
import { hostHeaderProblem, isLoopbackAddress, mutatingRequestProblem } from '../../src/xds/debug-http-guard.js';
import { TypeUrl, type Cluster, type Listener, type Secret } from '../../src/envoy/envoy-types.js';

async function credential(): Promise<{ certPem: string; keyPem: string }> {
  const k = await generateKeyPair();
  const certPem = await issueCertificate({
    subject: 'CN=redact-test',
    publicKeyPem: k.publicKeyPem,
    issuer: 'self',
    selfPrivateKeyPem: k.privateKeyPem,
    isCa: true,
    ttlSeconds: 3600,
  });
  return { certPem, keyPem: k.privateKeyPem };
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');
/** The key's DER as base64 (the PEM body): must not appear anywhere, in whatever encoding. */
const keyBody = (pem: string): string => pem.replace(/-----[A-Z ]+-----|\s/g, '');

function assertNoKey(text: string, keyPem: string): void {
  assert.doesNotMatch(text, /PRIVATE KEY/);
  assert.equal(text.includes(b64(keyPem)), false, 'the key as inlineBytes');
  assert.equal(text.includes(keyBody(keyPem).slice(0, 40)), false, 'the key body');
}

test('redacts the private key of an SDS secret (inlineBytes and inlineString) and keeps its certificate', async () => {
  const { certPem, keyPem } = await credential();
  const secrets: Secret[] = [
    {
      name: 'kubernetes://client-credential',
      tlsCertificate: { certificateChain: { inlineBytes: b64(certPem) }, privateKey: { inlineBytes: b64(keyPem) } },
    },
    { name: 'default', tlsCertificate: { certificateChain: { inlineString: certPem }, privateKey: { inlineString: keyPem } } },
    { name: 'token', genericSecret: { secret: { inlineString: 'hunter2' } } },
  ];
  const before = JSON.stringify(secrets);
  const out = redactSecrets(secrets);
  const text = JSON.stringify(out);
  assertNoKey(text, keyPem);
  assert.equal(text.includes('hunter2'), false, 'a generic secret');
  assert.deepEqual(out[0]!.tlsCertificate, { certificateChain: { inlineBytes: b64(certPem) }, privateKey: { inlineString: REDACTED } });
  assert.equal(out[1]!.tlsCertificate!.certificateChain!.inlineString, certPem);
  assert.deepEqual(out[2]!.genericSecret, { secret: { inlineString: REDACTED } });
  assert.equal(JSON.stringify(secrets), before, 'the input is not changed (the proxy keeps serving with it)');
});

test("redacts a key inline in a Listener's and a Cluster's transport socket; a filename stays (it is only a path)", async () => {
  const { certPem, keyPem } = await credential();
  const listener: Listener = {
    name: '0.0.0.0_13306',
    address: { socketAddress: { address: '0.0.0.0', portValue: 13306 } },
    filterChains: [
      {
        filters: [],
        transportSocket: {
          name: 'envoy.transport_sockets.tls',
          typedConfig: {
            '@type': TypeUrl.DownstreamTlsContext,
            commonTlsContext: { tlsCertificates: [{ certificateChain: { inlineString: certPem }, privateKey: { inlineString: keyPem } }] },
          },
        },
      },
    ],
  };
  const cluster = {
    name: 'outbound|3306||db',
    type: 'STATIC',
    connectTimeout: '1s',
    transportSocket: {
      name: 'envoy.transport_sockets.tls',
      typedConfig: {
        '@type': TypeUrl.UpstreamTlsContext,
        commonTlsContext: {
          tlsCertificates: [{ certificateChain: { filename: '/etc/certs/cert.pem' }, privateKey: { filename: '/etc/certs/key.pem' } }],
        },
      },
    },
    transportSocketMatches: [
      {
        name: 'tls',
        transportSocket: {
          name: 'envoy.transport_sockets.tls',
          typedConfig: {
            '@type': TypeUrl.UpstreamTlsContext,
            commonTlsContext: { tlsCertificates: [{ privateKey: { inlineBytes: b64(keyPem) } }] },
          },
        },
      },
    ],
  } as unknown as Cluster;
  const dump = { configs: [{ dynamicListeners: [{ activeState: { listener } }] }, { dynamicActiveClusters: [{ cluster }] }] };
  const text = JSON.stringify(redactSecrets(dump));
  assertNoKey(text, keyPem);
  assert.ok(text.includes(JSON.stringify(certPem)), 'the certificate is still shown');
  assert.ok(text.includes('"privateKey":{"filename":"/etc/certs/key.pem"}'), 'a key file path is not key material');
});

test('redacts a PEM private key quoted in free text (a NACK reason, a log line)', async () => {
  const { keyPem } = await credential();
  const text = JSON.stringify(redactSecrets({ proxies: [{ error: `cannot load key ${keyPem} for chain` }] }));
  assertNoKey(text, keyPem);
  assert.match(text, /cannot load key \[redacted\]\\n for chain/);
});

test('loopback addresses: 127.0.0.0/8, ::1, ::ffff:127.x and localhost; nothing else', () => {
  for (const a of ['127.0.0.1', '127.42.1.2', '::1', '[::1]', '::ffff:127.0.0.1', 'localhost']) assert.equal(isLoopbackAddress(a), true, a);
  for (const a of ['0.0.0.0', '198.18.1.2', '10.0.0.1', '::', 'fe80::1', '::ffff:10.0.0.1', 'evil.example', '128.0.0.1'])
    assert.equal(isLoopbackAddress(a), false, a);
});

test('Host check: IP literals and localhost pass, any other name is refused as DNS rebinding', () => {
  for (const h of ['127.0.0.1:15014', '198.18.1.1:15014', '[::1]:15000', '::1', 'localhost:15000', 'LOCALHOST', undefined])
    assert.equal(hostHeaderProblem(h), undefined, String(h));
  for (const h of ['evil.example', 'evil.example:15014', 'localhost.evil.example:15000', '127.0.0.1.nip.io'])
    assert.match(hostHeaderProblem(h) ?? '', /refused.*DNS rebinding/, h);
  assert.match(hostHeaderProblem('198.18.1.2:15000', true) ?? '', /loopback/);
});

test("a mutating request needs a loopback Host and no Origin but the admin's own", () => {
  assert.equal(mutatingRequestProblem({ host: '127.0.0.1:15000' }), undefined);
  assert.equal(mutatingRequestProblem({ host: '127.0.0.1:15000', origin: 'http://127.0.0.1:15000' }), undefined);
  assert.match(
    mutatingRequestProblem({ host: '127.0.0.1:15000', origin: 'https://evil.example' }) ?? '',
    /Origin "https:\/\/evil\.example" refused/,
  );
  assert.match(mutatingRequestProblem({ host: '127.0.0.1:15000', origin: 'null' }) ?? '', /Origin "null" refused/);
  assert.match(mutatingRequestProblem({ host: 'evil.example:15000' }) ?? '', /Host "evil\.example:15000" refused/);
  assert.match(mutatingRequestProblem({ host: '198.18.1.2:15000' }) ?? '', /loopback/);
});
