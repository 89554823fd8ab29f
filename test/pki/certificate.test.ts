import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, type KeyAlgorithm } from '../../src/pki/keys.js';
import {
  issueCertificate,
  parseCertificate,
  createCsr,
  parseCsr,
  verifyCsrSignature,
  CertificateError,
} from '../../src/pki/certificate.js';
import { splitPemBundle, PemError } from '../../src/pki/pem.js';
import { assertOpensslAgrees, openssl, opensslSkip, opensslVerify, tempDir } from './helpers.js';

async function makeRoot(alg: KeyAlgorithm = 'ec-p256', subject = 'CN=Test Root, O=Example Org') {
  const keys = await generateKeyPair(alg);
  const certPem = await issueCertificate({
    subject,
    publicKeyPem: keys.publicKeyPem,
    issuer: 'self',
    selfPrivateKeyPem: keys.privateKeyPem,
    isCa: true,
    ttlSeconds: 3600,
  });
  return { certPem, privateKeyPem: keys.privateKeyPem };
}

for (const alg of ['ec-p256', 'rsa-2048'] as const) {
  test(`issues a ${alg} root and leaf that openssl reads identically and verifies`, { skip: opensslSkip }, async (t) => {
    const dir = tempDir(t);
    const root = await makeRoot(alg);
    const leafKeys = await generateKeyPair(alg);
    const leafPem = await issueCertificate({
      subject: 'CN=mysql.fqdn.example, O=Example Org',
      publicKeyPem: leafKeys.publicKeyPem,
      issuer: root,
      usage: 'server',
      dns: ['mysql.fqdn.example', '*.mysql.fqdn.example'],
      uris: ['spiffe://cluster.local/ns/a/sa/x'],
      ips: ['127.0.0.1', '::1'],
      ttlSeconds: 600,
    });
    const r = parseCertificate(root.certPem);
    const l = parseCertificate(leafPem);
    assert.equal(r.isCa, true);
    assert.equal(r.selfIssued, true);
    assert.deepEqual(r.keyUsage.sort(), ['cRLSign', 'digitalSignature', 'keyCertSign']);
    assert.equal(l.isCa, false);
    assert.deepEqual(l.extKeyUsage, ['serverAuth']);
    assert.deepEqual(l.dns, ['mysql.fqdn.example', '*.mysql.fqdn.example']);
    assert.deepEqual(l.ips, ['127.0.0.1', '::1']);
    assert.equal(l.authorityKeyId, r.subjectKeyId, 'the leaf AKI names the root SKI');
    assert.equal(l.notAfter.getTime() - l.notBefore.getTime(), 600_000);
    assert.equal(l.publicKeyAlgorithm, alg === 'ec-p256' ? 'EC P-256' : 'RSA 2048');
    assertOpensslAgrees(r);
    assertOpensslAgrees(l);
    const v = opensslVerify(dir, leafPem, [root.certPem], { purpose: 'sslserver' });
    assert.ok(v.ok, v.output);
    assert.equal(
      opensslVerify(dir, leafPem, [root.certPem], { purpose: 'sslclient' }).ok,
      false,
      'a server-only leaf is not a TLS client certificate for openssl either',
    );
  });
}

test('an empty-subject workload certificate carries a critical SAN, as RFC 5280 requires', { skip: opensslSkip }, async () => {
  const root = await makeRoot();
  const k = await generateKeyPair();
  const pem = await issueCertificate({
    subject: '',
    publicKeyPem: k.publicKeyPem,
    issuer: root,
    uris: ['spiffe://td/ns/a/sa/x'],
    ttlSeconds: 60,
  });
  const text = openssl(['x509', '-noout', '-text'], pem).stdout;
  assert.match(text, /X509v3 Subject Alternative Name: critical/);
  const info = parseCertificate(pem);
  assert.equal(info.subject, '');
  assert.deepEqual(info.extKeyUsage.sort(), ['clientAuth', 'serverAuth']);
  assertOpensslAgrees(info);
});

test("refuses to sign with a non-CA certificate or a key that is not the issuer's", async () => {
  const root = await makeRoot();
  const k = await generateKeyPair();
  const leaf = await issueCertificate({ subject: 'CN=leaf', publicKeyPem: k.publicKeyPem, issuer: root, ttlSeconds: 60 });
  await assert.rejects(
    issueCertificate({
      subject: 'CN=x',
      publicKeyPem: k.publicKeyPem,
      issuer: { certPem: leaf, privateKeyPem: k.privateKeyPem },
      ttlSeconds: 60,
    }),
    CertificateError,
  );
  await assert.rejects(
    issueCertificate({
      subject: 'CN=x',
      publicKeyPem: k.publicKeyPem,
      issuer: { certPem: root.certPem, privateKeyPem: k.privateKeyPem },
      ttlSeconds: 60,
    }),
    /does not belong/,
  );
  await assert.rejects(
    issueCertificate({ subject: 'CN=x', publicKeyPem: k.publicKeyPem, issuer: root, dns: ['not a name'], ttlSeconds: 60 }),
    /not a valid DNS name/,
  );
});

test('a CSR carries its subject and SANs and its signature verifies with openssl', { skip: opensslSkip }, async () => {
  const k = await generateKeyPair('rsa-2048');
  const csr = await createCsr({
    privateKeyPem: k.privateKeyPem,
    subject: 'CN=client',
    dns: ['a.example'],
    uris: ['spiffe://td/ns/a/sa/x'],
    ips: ['10.0.0.1'],
  });
  const info = parseCsr(csr);
  assert.equal(info.subject, 'CN=client');
  assert.deepEqual([info.dns, info.uris, info.ips], [['a.example'], ['spiffe://td/ns/a/sa/x'], ['10.0.0.1']]);
  assert.equal(await verifyCsrSignature(csr), true);
  const r = openssl(['req', '-noout', '-verify'], csr);
  assert.equal(r.status, 0, r.stderr);
});

test('PEM parsing rejects garbage, naming what it found and the line', async () => {
  const root = await makeRoot();
  assert.equal(splitPemBundle(`\n${root.certPem}\n${root.certPem}`).length, 2);
  assert.throws(
    () => splitPemBundle(`hello\n${root.certPem}`),
    (e: unknown) => e instanceof PemError && e.code === 'E_PEM_INVALID' && /"hello"/.test(e.message) && e.line === 1,
  );
  assert.throws(
    () => splitPemBundle(root.certPem + 'trailing junk\n', 'CERTIFICATE', 'ca.pem'),
    /ca\.pem:\d+: unexpected text "trailing junk"/,
  );
  assert.throws(() => splitPemBundle(root.privateKeyPem), /found a "PRIVATE KEY" block where "CERTIFICATE" was expected/);
  assert.throws(() => splitPemBundle(''), /no "CERTIFICATE" block found/);
  const lines = root.certPem.split('\n');
  assert.throws(() => splitPemBundle(lines.slice(0, -3).join('\n')), /no matching END line/);
  const corrupt = [lines[0], (lines[1] as string).replace(/^..../, '!!!!'), ...lines.slice(2)].join('\n');
  assert.throws(() => splitPemBundle(corrupt), /invalid base64/);
  const truncated = [lines[0], ...lines.slice(2)].join('\n');
  assert.throws(() => splitPemBundle(truncated), PemError);
});
