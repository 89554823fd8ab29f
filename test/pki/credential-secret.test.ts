import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readCredentialSecret, CredentialError, type CredentialSecret } from '../../src/pki/credential-secret.js';
import { generateKeyPair } from '../../src/pki/keys.js';
import { issueCertificate } from '../../src/pki/certificate.js';
import { createCrl } from '../../src/pki/crl.js';

let rootPem: string;
let otherRootPem: string;
let certPem: string;
let keyPem: string;
let otherCertPem: string;
let otherKeyPem: string;
let crlPem: string;

before(async () => {
  const rk = await generateKeyPair();
  rootPem = await issueCertificate({
    subject: 'CN=R',
    publicKeyPem: rk.publicKeyPem,
    issuer: 'self',
    selfPrivateKeyPem: rk.privateKeyPem,
    isCa: true,
    ttlSeconds: 3600,
  });
  const ok = await generateKeyPair();
  otherRootPem = await issueCertificate({
    subject: 'CN=R2',
    publicKeyPem: ok.publicKeyPem,
    issuer: 'self',
    selfPrivateKeyPem: ok.privateKeyPem,
    isCa: true,
    ttlSeconds: 3600,
  });
  const k = await generateKeyPair();
  keyPem = k.privateKeyPem;
  certPem = await issueCertificate({
    subject: 'CN=gw',
    publicKeyPem: k.publicKeyPem,
    issuer: { certPem: rootPem, privateKeyPem: rk.privateKeyPem },
    dns: ['mysql.fqdn.example'],
    ttlSeconds: 600,
  });
  const k2 = await generateKeyPair();
  otherKeyPem = k2.privateKeyPem;
  otherCertPem = await issueCertificate({
    subject: 'CN=gw2',
    publicKeyPem: k2.publicKeyPem,
    issuer: { certPem: rootPem, privateKeyPem: rk.privateKeyPem },
    ttlSeconds: 600,
  });
  crlPem = await createCrl({ caCertPem: rootPem, caKeyPem: rk.privateKeyPem, revokedSerials: [], ttlSeconds: 600 });
});

function secret(name: string, data: Record<string, string>): CredentialSecret {
  return {
    metadata: { name, namespace: 'istio-system' },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v)])),
  };
}

function namesSecretAndKey(secretName: string, key: string) {
  return (e: unknown): boolean =>
    e instanceof CredentialError &&
    e.code === 'E_CREDENTIAL_INVALID' &&
    e.message.includes(secretName) &&
    e.key === key &&
    e.message.includes(`"${key}"`);
}

test('reads a generic tls.crt/tls.key/ca.crt/ca.crl secret', () => {
  const c = readCredentialSecret(
    secret('client-credential', { 'tls.crt': certPem, 'tls.key': keyPem, 'ca.crt': rootPem, 'ca.crl': crlPem }),
  );
  assert.deepEqual(c, { certChainPem: certPem, privateKeyPem: keyPem, caPem: rootPem, crlPem });
});

test("cert/key win over tls.crt/tls.key, cacert over ca.crt, crl over ca.crl (Istio's order)", () => {
  const c = readCredentialSecret(
    secret('s', {
      cert: certPem,
      key: keyPem,
      'tls.crt': otherCertPem,
      'tls.key': otherKeyPem,
      cacert: rootPem,
      'ca.crt': otherRootPem,
      crl: crlPem,
    }),
  );
  assert.equal(c.certChainPem, certPem);
  assert.equal(c.privateKeyPem, keyPem);
  assert.equal(c.caPem, rootPem);
  assert.equal(c.crlPem, crlPem);
  // An empty cert/key pair falls through to tls.crt/tls.key, as in Istio.
  const d = readCredentialSecret(secret('s', { cert: '', key: '', 'tls.crt': otherCertPem, 'tls.key': otherKeyPem }));
  assert.equal(d.certChainPem, otherCertPem);
});

test('the CA comes from the separate <name>-cacert secret when given', () => {
  const main = secret('mysql-credential', { 'tls.crt': certPem, 'tls.key': keyPem, 'ca.crt': otherRootPem });
  const cacert = secret('mysql-credential-cacert', { 'ca.crt': rootPem });
  const c = readCredentialSecret(main, cacert);
  assert.equal(c.caPem, rootPem);
  assert.throws(
    () => readCredentialSecret(main, secret('mysql-credential-cacert', { other: 'x' })),
    namesSecretAndKey('istio-system/mysql-credential-cacert', 'cacert'),
  );
  // A CA-only secret is a valid source of trust for a client.
  assert.deepEqual(readCredentialSecret(secret('ca-only', { cacert: rootPem })), { caPem: rootPem });
});

test('a key without a certificate, or the reverse, names the secret and the missing key', () => {
  assert.throws(
    () => readCredentialSecret(secret('client-credential', { 'tls.key': keyPem })),
    namesSecretAndKey('istio-system/client-credential', 'tls.crt'),
  );
  assert.throws(
    () => readCredentialSecret(secret('client-credential', { 'tls.crt': certPem })),
    namesSecretAndKey('istio-system/client-credential', 'tls.key'),
  );
  assert.throws(() => readCredentialSecret(secret('c', { cert: certPem, 'ca.crt': rootPem })), namesSecretAndKey('istio-system/c', 'key'));
  assert.throws(() => readCredentialSecret(secret('c', { foo: 'bar' })), /found: foo/);
});

test('contents are checked: a key that does not match, garbage certificates, an empty CA', () => {
  assert.throws(
    () => readCredentialSecret(secret('c', { 'tls.crt': certPem, 'tls.key': otherKeyPem })),
    /does not belong to the certificate in "tls.crt"/,
  );
  assert.throws(
    () => readCredentialSecret(secret('c', { 'tls.crt': 'not pem', 'tls.key': keyPem })),
    namesSecretAndKey('istio-system/c', 'tls.crt'),
  );
  assert.throws(
    () => readCredentialSecret(secret('c', { 'tls.crt': certPem, 'tls.key': certPem })),
    namesSecretAndKey('istio-system/c', 'tls.key'),
  );
  assert.throws(
    () => readCredentialSecret(secret('c', { 'tls.crt': certPem, 'tls.key': keyPem, 'ca.crl': rootPem })),
    namesSecretAndKey('istio-system/c', 'ca.crl'),
  );
  assert.throws(() => readCredentialSecret(secret('c', { cacert: '' })), /found key "cacert", but it was empty/);
});
