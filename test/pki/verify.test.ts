import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { generateKeyPair } from '../../src/pki/keys.js';
import { issueCertificate, parseCertificate } from '../../src/pki/certificate.js';
import { verifyChain } from '../../src/pki/verify.js';
import { createCrl, parseCrl, crlIssuedBy } from '../../src/pki/crl.js';
import { assertOpensslAgrees, opensslSkip, opensslVerify, tempDir } from './helpers.js';
import type { KeyAlgorithm } from '../../src/pki/keys.js';

interface Ca {
  certPem: string;
  privateKeyPem: string;
}

async function root(subject: string, now?: Date, ttlSeconds = 3600, alg?: KeyAlgorithm): Promise<Ca> {
  const k = await generateKeyPair(alg);
  const certPem = await issueCertificate({
    subject,
    publicKeyPem: k.publicKeyPem,
    issuer: 'self',
    selfPrivateKeyPem: k.privateKeyPem,
    isCa: true,
    ttlSeconds,
    ...(now ? { now } : {}),
  });
  return { certPem, privateKeyPem: k.privateKeyPem };
}

async function intermediate(parent: Ca, subject: string, pathLength?: number): Promise<Ca> {
  const k = await generateKeyPair();
  const certPem = await issueCertificate({
    subject,
    publicKeyPem: k.publicKeyPem,
    issuer: parent,
    isCa: true,
    ttlSeconds: 3600,
    ...(pathLength !== undefined ? { pathLength } : {}),
  });
  return { certPem, privateKeyPem: k.privateKeyPem };
}

async function leaf(issuer: Ca, opts: { usage?: 'server' | 'client' | 'both'; ttlSeconds?: number; now?: Date } = {}): Promise<string> {
  const k = await generateKeyPair();
  return issueCertificate({
    subject: 'CN=leaf',
    publicKeyPem: k.publicKeyPem,
    issuer,
    dns: ['leaf.example'],
    usage: opts.usage ?? 'both',
    ttlSeconds: opts.ttlSeconds ?? 600,
    ...(opts.now ? { now: opts.now } : {}),
  });
}

test('chains from each CA verify only against their own root (openssl agrees)', { skip: opensslSkip }, async (t) => {
  const dir = tempDir(t);
  // Same subject on purpose: two clusters' self-signed roots often share a name (O=cluster.local).
  const a = await root('O=cluster.local');
  const b = await root('O=cluster.local');
  const leafA = await leaf(a);
  const leafB = await leaf(b);
  for (const [l, own, other] of [
    [leafA, a, b],
    [leafB, b, a],
  ] as const) {
    const good = verifyChain([l], [own.certPem]);
    assert.ok(good.ok, JSON.stringify(good));
    assert.equal(good.path.length, 2);
    const bad = verifyChain([l], [other.certPem]);
    assert.equal(bad.ok, false);
    assert.equal(!bad.ok && bad.code, 'E_CERT_UNKNOWN_ISSUER');
    assert.equal(opensslVerify(dir, l, [own.certPem]).ok, true);
    assert.equal(opensslVerify(dir, l, [other.certPem]).ok, false);
    for (const info of good.path) assertOpensslAgrees(info);
  }
  // A bundle holding both roots (rotation overlap) trusts both.
  assert.ok(verifyChain([leafA], [a.certPem + b.certPem]).ok);
  assert.ok(verifyChain([leafB], [a.certPem, b.certPem]).ok);
});

test(
  'an intermediate presented with the chain is used to reach the root, and a pathLength is enforced',
  { skip: opensslSkip },
  async (t) => {
    const dir = tempDir(t);
    const r = await root('CN=R');
    const i1 = await intermediate(r, 'CN=I1', 0);
    const l = await leaf(i1);
    const ok = verifyChain([l, i1.certPem], [r.certPem]);
    assert.ok(ok.ok, JSON.stringify(ok));
    assert.deepEqual(
      ok.path.map((p) => p.subject),
      ['CN=leaf', 'CN=I1', 'CN=R'],
    );
    assert.ok(opensslVerify(dir, l, [r.certPem], { untrusted: [i1.certPem] }).ok);
    const missing = verifyChain([l], [r.certPem]);
    assert.equal(!missing.ok && missing.code, 'E_CERT_UNKNOWN_ISSUER');
    assert.match(!missing.ok ? missing.reason : '', /issuer "CN=I1".*not in the trusted bundle/);

    const i2 = await intermediate(i1, 'CN=I2');
    const deep = await leaf(i2);
    const tooDeep = verifyChain([deep, i2.certPem, i1.certPem], [r.certPem]);
    assert.equal(!tooDeep.ok && tooDeep.code, 'E_CERT_PATH_LENGTH');
    assert.equal(opensslVerify(dir, deep, [r.certPem], { untrusted: [i2.certPem, i1.certPem] }).ok, false);
  },
);

test('expired and not-yet-valid certificates fail with the date, within a bounded skew', { skip: opensslSkip }, async (t) => {
  const dir = tempDir(t);
  const r = await root('CN=R', new Date(Date.now() - 7200_000), 86400 * 2);
  const t0 = new Date(Date.now() - 3600_000);
  const l = await leaf(r, { now: t0, ttlSeconds: 600 });
  const expired = verifyChain([l], [r.certPem]);
  assert.equal(!expired.ok && expired.code, 'E_CERT_EXPIRED');
  assert.match(!expired.ok ? expired.reason : '', /expired at \d{4}-/);
  assert.equal(opensslVerify(dir, l, [r.certPem]).ok, false);
  assert.ok(verifyChain([l], [r.certPem], { now: new Date(t0.getTime() + 60_000) }).ok);
  const justAfter = new Date(t0.getTime() + 600_000 + 30_000);
  assert.equal(verifyChain([l], [r.certPem], { now: justAfter }).ok, false);
  assert.ok(verifyChain([l], [r.certPem], { now: justAfter, skewSeconds: 60 }).ok);
  const future = await leaf(r, { now: new Date(Date.now() + 3600_000) });
  const early = verifyChain([future], [r.certPem]);
  assert.equal(!early.ok && early.code, 'E_CERT_NOT_YET_VALID');
  assert.equal(opensslVerify(dir, future, [r.certPem]).ok, false);
  assert.throws(() => verifyChain([l], [r.certPem], { skewSeconds: 86400 }), RangeError);
});

test('a leaf presented for the wrong purpose fails with wrong usage', async () => {
  const r = await root('CN=R');
  const serverOnly = await leaf(r, { usage: 'server' });
  assert.ok(verifyChain([serverOnly], [r.certPem], { usage: 'server' }).ok);
  const res = verifyChain([serverOnly], [r.certPem], { usage: 'client' });
  assert.equal(!res.ok && res.code, 'E_CERT_WRONG_USAGE');
  assert.match(!res.ok ? res.reason : '', /needs clientAuth/);
});

test('a self-signed certificate that is not in the bundle is named as such', async () => {
  const r = await root('CN=Lonely');
  const other = await root('CN=Other');
  const res = verifyChain([r.certPem], [other.certPem]);
  assert.equal(!res.ok && res.code, 'E_CERT_UNKNOWN_ISSUER');
  assert.match(!res.ok ? res.reason : '', /self-signed root that is not in the trusted bundle/);
  assert.equal(verifyChain([], [other.certPem]).ok, false);
});

test('a revoked leaf fails verification when the CRL is configured (openssl agrees)', { skip: opensslSkip }, async (t) => {
  const dir = tempDir(t);
  const r = await root('CN=R');
  const revoked = await leaf(r);
  const fine = await leaf(r);
  const revokedSerial = parseCertificate(revoked).serialHex;
  const crl = await createCrl({
    caCertPem: r.certPem,
    caKeyPem: r.privateKeyPem,
    revokedSerials: [revokedSerial.toLowerCase()],
    ttlSeconds: 3600,
  });
  const info = parseCrl(crl);
  assert.deepEqual(info.revokedSerials, [revokedSerial]);
  assert.equal(info.issuer, 'CN=R');
  assert.equal(crlIssuedBy(crl, r.certPem), true);
  const res = verifyChain([revoked], [r.certPem], { crlPems: [crl] });
  assert.equal(!res.ok && res.code, 'E_CERT_REVOKED');
  assert.ok(verifyChain([revoked], [r.certPem]).ok, 'without a CRL nothing is checked');
  assert.ok(verifyChain([fine], [r.certPem], { crlPems: [crl] }).ok);
  const o = opensslVerify(dir, revoked, [r.certPem], { crls: [crl] });
  assert.equal(o.ok, false);
  assert.match(o.output, /certificate revoked/, o.output);
  assert.equal(opensslVerify(dir, fine, [r.certPem], { crls: [crl] }).ok, true);

  // A CRL signed by another CA of the same name does not count; nor does an expired one.
  const impostor = await root('CN=R');
  const fake = await createCrl({ caCertPem: impostor.certPem, caKeyPem: impostor.privateKeyPem, revokedSerials: [], ttlSeconds: 3600 });
  assert.equal(crlIssuedBy(fake, r.certPem), false);
  const missing = verifyChain([fine], [r.certPem], { crlPems: [fake] });
  assert.equal(!missing.ok && missing.code, 'E_CRL_MISSING');
  const old = await createCrl({
    caCertPem: r.certPem,
    caKeyPem: r.privateKeyPem,
    revokedSerials: [],
    ttlSeconds: 60,
    now: new Date(Date.now() - 600_000),
  });
  const stale = verifyChain([fine], [r.certPem], { crlPems: [old] });
  assert.equal(!stale.ok && stale.code, 'E_CRL_EXPIRED');
});

test(
  'revoked entries carry no empty crlEntryExtensions (RFC 5280 §5.1: BoringSSL refuses the CRL), and the signature holds',
  { skip: opensslSkip },
  async (t) => {
    const dir = tempDir(t);
    for (const alg of ['ec-p256', 'rsa-2048'] as const) {
      const r = await root('CN=R', undefined, 3600, alg);
      const l = await leaf(r);
      const crl = await createCrl({
        caCertPem: r.certPem,
        caKeyPem: r.privateKeyPem,
        revokedSerials: [parseCertificate(l).serialHex, '0a'],
        ttlSeconds: 3600,
      });
      const crlFile = path.join(dir, `${alg}.crl.pem`);
      writeFileSync(crlFile, crl);
      const asn1 = execFileSync('openssl', ['asn1parse', '-in', crlFile], { encoding: 'utf8' });
      assert.equal((asn1.match(/prim: INTEGER/g) ?? []).length, 3, `${alg}: version and two serials\n${asn1}`);
      assert.doesNotMatch(asn1, /l=\s*0 cons: SEQUENCE/, `${alg}: an empty SEQUENCE (crlEntryExtensions)\n${asn1}`);
      assert.equal(crlIssuedBy(crl, r.certPem), true, alg);
      const o = opensslVerify(dir, l, [r.certPem], { crls: [crl] });
      assert.match(o.output, /certificate revoked/, `${alg}: ${o.output}`);
    }
  },
);

test("with an intermediate, every certificate in the chain is checked against its issuer's CRL", { skip: opensslSkip }, async (t) => {
  const dir = tempDir(t);
  const r = await root('CN=R');
  const i = await intermediate(r, 'CN=I');
  const l = await leaf(i);
  const rootCrl = await createCrl({
    caCertPem: r.certPem,
    caKeyPem: r.privateKeyPem,
    revokedSerials: [parseCertificate(i.certPem).serialHex],
    ttlSeconds: 3600,
  });
  const intCrl = await createCrl({ caCertPem: i.certPem, caKeyPem: i.privateKeyPem, revokedSerials: [], ttlSeconds: 3600 });
  const res = verifyChain([l, i.certPem], [r.certPem], { crlPems: [rootCrl, intCrl] });
  assert.equal(!res.ok && res.code, 'E_CERT_REVOKED');
  assert.match(!res.ok ? res.reason : '', /"CN=I".*was revoked by.*"CN=R"/);
  assert.ok(verifyChain([l, i.certPem], [r.certPem], { crlPems: [rootCrl, intCrl], onlyLeafCrl: true }).ok);
  const o = opensslVerify(dir, l, [r.certPem], { untrusted: [i.certPem], crls: [rootCrl, intCrl], crlAll: true });
  assert.equal(o.ok, false);
  assert.match(o.output, /certificate revoked/, o.output);
  const clean = await createCrl({ caCertPem: r.certPem, caKeyPem: r.privateKeyPem, revokedSerials: [], ttlSeconds: 3600 });
  assert.ok(verifyChain([l, i.certPem], [r.certPem], { crlPems: [clean, intCrl] }).ok);
  const o2 = opensslVerify(dir, l, [r.certPem], { untrusted: [i.certPem], crls: [clean, intCrl], crlAll: true });
  assert.ok(o2.ok, o2.output);
});
