import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import path from 'node:path';
import { MeshCA, MeshCAError } from '../../src/pki/mesh-ca.js';
import { generateKeyPair } from '../../src/pki/keys.js';
import { createCsr, issueCertificate, parseCertificate } from '../../src/pki/certificate.js';
import { splitPemBundle } from '../../src/pki/pem.js';
import { verifyChain } from '../../src/pki/verify.js';
import { assertOpensslAgrees, opensslSkip, opensslVerify, tempDir } from './helpers.js';
import { writeFileSync, mkdirSync } from 'node:fs';

async function csr(extra: { dns?: string[]; uris?: string[]; ips?: string[]; subject?: string } = {}): Promise<string> {
  const k = await generateKeyPair();
  return createCsr({ privateKeyPem: k.privateKeyPem, ...extra });
}

test('a CSR asking for extra SANs gets only its SPIFFE ID, both TLS usages and an empty subject', { skip: opensslSkip }, async (t) => {
  const dir = tempDir(t);
  const ca = await MeshCA.createSelfSigned({ trustDomain: 'cluster.local', clusterId: 'cluster-a' });
  const request = await csr({
    subject: 'CN=admin, O=system:masters',
    dns: ['istiod.istio-system.svc', 'evil.example'],
    uris: ['spiffe://cluster.local/ns/a/sa/x', 'https://evil.example'],
    ips: ['127.0.0.1'],
  });
  const chain = await ca.signWorkloadCsr(request, { namespace: 'a', serviceAccount: 'x' }, 3600);
  assert.equal(chain.length, 2, 'leaf and root bundle for a self-signed CA');
  const leaf = parseCertificate(chain[0] as string);
  assert.deepEqual(leaf.uris, ['spiffe://cluster.local/ns/a/sa/x']);
  assert.deepEqual([leaf.dns, leaf.ips, leaf.subject], [[], [], '']);
  assert.deepEqual(leaf.extKeyUsage.sort(), ['clientAuth', 'serverAuth']);
  assert.equal(leaf.isCa, false);
  assert.equal(chain[1], ca.rootBundlePem());
  assertOpensslAgrees(leaf);
  assertOpensslAgrees(parseCertificate(ca.rootBundlePem()));
  assert.ok(verifyChain(chain.slice(0, -1), [ca.rootBundlePem()], { usage: 'client' }).ok);
  assert.ok(opensslVerify(dir, chain[0] as string, [ca.rootBundlePem()], { purpose: 'sslclient' }).ok);
});

test('TTL: the default is 24 h, requests above the maximum are refused as Istio does', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const ca = await MeshCA.createSelfSigned({ trustDomain: 'td.example', now: () => now, maxTtlSeconds: 7200 });
  const lifetime = (pem: string): number => {
    const i = parseCertificate(pem);
    return (i.notAfter.getTime() - i.notBefore.getTime()) / 1000;
  };
  assert.equal(
    lifetime((await ca.signWorkloadCsr(await csr(), { namespace: 'a', serviceAccount: 'x' }, 0))[0] as string),
    7200,
    'default 24 h capped by the 2 h maximum',
  );
  assert.equal(lifetime((await ca.signWorkloadCsr(await csr(), { namespace: 'a', serviceAccount: 'x' }, 600))[0] as string), 600);
  await assert.rejects(
    ca.signWorkloadCsr(await csr(), { namespace: 'a', serviceAccount: 'x' }, 10 * 86400),
    (e: unknown) =>
      e instanceof MeshCAError &&
      e.code === 'E_CA_TTL_TOO_LONG' &&
      e.message === 'requested TTL 240h is greater than the max allowed TTL 2h',
  );
  const unbounded = await MeshCA.createSelfSigned({ trustDomain: 'td.example', now: () => now });
  assert.equal(lifetime((await unbounded.signWorkloadCsr(await csr(), { namespace: 'a', serviceAccount: 'x' }, 0))[0] as string), 86400);
  now = new Date('2030-01-01T01:00:00Z');
  const later = parseCertificate((await ca.signWorkloadCsr(await csr(), { namespace: 'a', serviceAccount: 'x' }, 60))[0] as string);
  assert.equal(later.notBefore.toISOString(), '2030-01-01T01:00:00.000Z', 'the injected clock sets notBefore');
});

test('refuses a CSR whose signature does not verify and identities that are not Kubernetes names', async () => {
  const ca = await MeshCA.createSelfSigned({ trustDomain: 'cluster.local' });
  const good = await csr();
  const lines = good.trim().split('\n');
  // Flip a character in the signature area (the last full base64 line).
  const idx = lines.length - 2;
  const l = lines[idx] as string;
  lines[idx] = l.slice(0, 10) + (l[10] === 'A' ? 'B' : 'A') + l.slice(11);
  await assert.rejects(
    ca.signWorkloadCsr(lines.join('\n') + '\n', { namespace: 'a', serviceAccount: 'x' }, 60),
    (e: unknown) => e instanceof MeshCAError && e.code === 'E_CSR_INVALID',
  );
  await assert.rejects(ca.signWorkloadCsr(good, { namespace: 'a/b', serviceAccount: 'x' }, 60), /not a valid Kubernetes name/);
  await assert.rejects(ca.signWorkloadCsr('garbage', { namespace: 'a', serviceAccount: 'x' }, 60), /CSR cannot be read/);
});

test("two clusters' CAs issue chains that verify only against their own root", async () => {
  const a = await MeshCA.createSelfSigned({ trustDomain: 'cluster.local', clusterId: 'a' });
  const b = await MeshCA.createSelfSigned({ trustDomain: 'cluster.local', clusterId: 'b' });
  const fromA = await a.signWorkloadCsr(await csr(), { namespace: 'default', serviceAccount: 'client' }, 600);
  const fromB = await b.signWorkloadCsr(await csr(), { namespace: 'default', serviceAccount: 'client' }, 600);
  assert.ok(verifyChain([fromA[0] as string], [a.rootBundlePem()]).ok);
  assert.ok(verifyChain([fromB[0] as string], [b.rootBundlePem()]).ok);
  assert.equal(verifyChain([fromA[0] as string], [b.rootBundlePem()]).ok, false);
  assert.equal(verifyChain([fromB[0] as string], [a.rootBundlePem()]).ok, false);
  // Root rotation overlap: B's bundle gains A's root and then accepts A's workloads.
  b.addTrustedRoots([a.rootBundlePem()]);
  assert.equal(splitPemBundle(b.rootBundlePem()).length, 2);
  assert.ok(verifyChain([fromA[0] as string], [b.rootBundlePem()]).ok);
});

test(
  'a plugged-in intermediate in the cacerts layout signs chains that reach the organisation root; save() round-trips with a 0600 key',
  { skip: opensslSkip },
  async (t) => {
    const dir = tempDir(t);
    const rootKeys = await generateKeyPair();
    const rootPem = await issueCertificate({
      subject: 'CN=Org Root, O=Example Org',
      publicKeyPem: rootKeys.publicKeyPem,
      issuer: 'self',
      selfPrivateKeyPem: rootKeys.privateKeyPem,
      isCa: true,
      ttlSeconds: 86400 * 30,
    });
    const intKeys = await generateKeyPair();
    const intPem = await issueCertificate({
      subject: 'CN=Intermediate cluster-a, O=Example Org',
      publicKeyPem: intKeys.publicKeyPem,
      issuer: { certPem: rootPem, privateKeyPem: rootKeys.privateKeyPem },
      isCa: true,
      pathLength: 0,
      ttlSeconds: 86400 * 10,
    });
    const cacerts = path.join(dir, 'cacerts');
    mkdirSync(cacerts);
    writeFileSync(path.join(cacerts, 'ca-cert.pem'), intPem);
    writeFileSync(path.join(cacerts, 'ca-key.pem'), intKeys.privateKeyPem);
    writeFileSync(path.join(cacerts, 'root-cert.pem'), rootPem);
    writeFileSync(path.join(cacerts, 'cert-chain.pem'), intPem + rootPem);
    const ca = await MeshCA.loadCacerts(cacerts, 'cluster.local');
    const chain = await ca.signWorkloadCsr(await csr(), { namespace: 'default', serviceAccount: 'mysql' }, 3600);
    assert.equal(chain.length, 3, 'leaf, intermediate, root bundle');
    const leaf = parseCertificate(chain[0] as string);
    assert.equal(leaf.issuer, 'CN=Intermediate cluster-a, O=Example Org');
    const res = verifyChain(chain.slice(0, -1), [chain[2] as string]);
    assert.ok(res.ok, JSON.stringify(res));
    assert.ok(opensslVerify(dir, chain[0] as string, [rootPem], { untrusted: [intPem] }).ok);
    assertOpensslAgrees(leaf);

    const serving = await ca.issueServingCertificate(['istiod.istio-system.svc'], 3600);
    const servingChain = splitPemBundle(serving.certChainPem);
    assert.equal(servingChain.length, 2);
    assert.ok(verifyChain(servingChain, [rootPem], { usage: 'server' }).ok);
    assert.deepEqual(parseCertificate(servingChain[0] as string).dns, ['istiod.istio-system.svc']);

    const saved = path.join(dir, 'saved');
    await ca.save(saved);
    assert.equal(statSync(path.join(saved, 'ca-key.pem')).mode & 0o777, 0o600);
    const again = await MeshCA.loadCacerts(saved, 'cluster.local');
    assert.equal(again.rootBundlePem(), ca.rootBundlePem());
    const chain2 = await again.signWorkloadCsr(await csr(), { namespace: 'default', serviceAccount: 'mysql' }, 3600);
    assert.ok(verifyChain(chain2.slice(0, -1), [rootPem]).ok);

    // A key that does not match, or a ca-cert that does not chain to the root, is refused on load.
    const other = await generateKeyPair();
    writeFileSync(path.join(cacerts, 'ca-key.pem'), other.privateKeyPem);
    await assert.rejects(MeshCA.loadCacerts(cacerts, 'cluster.local'), /ca-key\.pem is not the key/);
    writeFileSync(path.join(cacerts, 'ca-key.pem'), intKeys.privateKeyPem);
    const stranger = await MeshCA.createSelfSigned({ trustDomain: 'cluster.local' });
    writeFileSync(path.join(cacerts, 'root-cert.pem'), stranger.rootBundlePem());
    await assert.rejects(MeshCA.loadCacerts(cacerts, 'cluster.local'), /does not chain to/);
  },
);

test('a self-signed CA saves and reloads in the cacerts layout', async (t) => {
  const dir = tempDir(t);
  const ca = await MeshCA.createSelfSigned({ trustDomain: 'cluster.local', clusterId: 'a' });
  await ca.save(dir);
  const again = await MeshCA.loadCacerts(dir, 'cluster.local');
  const chain = await again.signWorkloadCsr(await csr(), { namespace: 'a', serviceAccount: 'x' }, 60);
  assert.equal(chain.length, 2);
  assert.ok(verifyChain([chain[0] as string], [ca.rootBundlePem()]).ok);
});
