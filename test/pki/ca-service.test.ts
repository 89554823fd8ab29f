import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { MeshCA } from '../../src/pki/mesh-ca.js';
import { TokenIssuer, TokenVerifier } from '../../src/pki/workload-token.js';
import { addCertificateService, requestCertificate, CaRequestError, decodeRequest, encodeRequest } from '../../src/pki/ca-service.js';
import { generateKeyPair } from '../../src/pki/keys.js';
import { createCsr, parseCertificate } from '../../src/pki/certificate.js';
import { verifyChain } from '../../src/pki/verify.js';

const ISSUER = 'https://kubernetes.default.svc';
let ca: MeshCA;
let tokens: TokenIssuer;
let server: grpc.Server;
let address: string;
const logs: Record<string, unknown>[] = [];

before(async () => {
  ca = await MeshCA.createSelfSigned({ trustDomain: 'cluster.local', clusterId: 'a' });
  tokens = await TokenIssuer.create(ISSUER);
  const serving = await ca.issueServingCertificate(['istiod.istio-system.svc'], 3600);
  server = new grpc.Server();
  addCertificateService(server, {
    ca,
    verifier: new TokenVerifier([tokens.publicKeyPem()], { issuer: ISSUER }),
    maxTtlSeconds: 7200,
    log: (e) => logs.push(e as Record<string, unknown>),
  });
  const creds = grpc.ServerCredentials.createSsl(
    null,
    [{ cert_chain: Buffer.from(serving.certChainPem), private_key: Buffer.from(serving.privateKeyPem) }],
    false,
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  address = `127.0.0.1:${port}`;
});

after(async () => {
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
});

async function csrFor(uris: string[] = [], dns: string[] = []): Promise<string> {
  const k = await generateKeyPair();
  return createCsr({ privateKeyPem: k.privateKeyPem, uris, dns });
}

test("the request and response messages round-trip with Istio's field numbers", () => {
  const buf = encodeRequest({
    csr: 'x',
    validityDuration: 3600,
    metadata: { ClusterID: 'a', n: 1, ok: true, list: ['a'], nested: { k: null } },
  });
  // csr = field 1 (tag 0x0a), validity_duration = field 3 varint (tag 0x18), metadata = field 4 (tag 0x22).
  assert.equal(buf[0], 0x0a);
  assert.ok(buf.includes(0x18) && buf.includes(0x22));
  assert.deepEqual(decodeRequest(buf), {
    csr: 'x',
    validityDuration: 3600,
    metadata: { ClusterID: 'a', n: 1, ok: true, list: ['a'], nested: { k: null } },
  });
});

test('issues a certificate over TLS on 127.0.0.1 for the identity in the token', async () => {
  const token = await tokens.mint({ namespace: 'a', serviceAccount: 'x', ttlSeconds: 7200 });
  const chain = await requestCertificate({
    address,
    rootCertPem: ca.rootBundlePem(),
    token,
    csrPem: await csrFor([], ['extra.example']),
    ttlSeconds: 3600,
  });
  const leaf = parseCertificate(chain[0] as string);
  assert.deepEqual(leaf.uris, ['spiffe://cluster.local/ns/a/sa/x']);
  assert.deepEqual(leaf.dns, [], 'extra SANs in the CSR are dropped');
  assert.equal((leaf.notAfter.getTime() - leaf.notBefore.getTime()) / 1000, 3600, 'the TTL asked for');
  assert.equal(chain[chain.length - 1], ca.rootBundlePem());
  assert.ok(verifyChain(chain.slice(0, -1), [ca.rootBundlePem()]).ok);
  const entry = logs.find((l) => l.msg === 'certificate issued' && l.serial === leaf.serialHex);
  assert.ok(entry, 'the grant is logged');
  assert.doesNotMatch(
    JSON.stringify(logs),
    new RegExp(token.slice(-20).replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')),
    'the token never reaches the log',
  );
});

test('a token for ns/a sa/x cannot obtain a certificate for sa/y: refused and logged', async () => {
  const token = await tokens.mint({ namespace: 'a', serviceAccount: 'x', ttlSeconds: 600 });
  const before = logs.length;
  await assert.rejects(
    requestCertificate({
      address,
      rootCertPem: ca.rootBundlePem(),
      token,
      csrPem: await csrFor(['spiffe://cluster.local/ns/a/sa/y']),
      ttlSeconds: 600,
    }),
    (e: unknown) => e instanceof CaRequestError && e.code === 'E_CA_UNAUTHORIZED' && e.grpcCode === grpc.status.PERMISSION_DENIED,
  );
  const entry = logs.slice(before).find((l) => l.msg === 'certificate refused');
  assert.ok(entry, 'the refusal is logged');
  assert.match(
    String(entry.reason),
    /spiffe:\/\/cluster\.local\/ns\/a\/sa\/x cannot obtain a certificate for spiffe:\/\/cluster\.local\/ns\/a\/sa\/y/,
  );
  assert.deepEqual((entry.requested as { identity: unknown }).identity, { namespace: 'a', serviceAccount: 'x' });
  assert.match(String(entry.peer), /127\.0\.0\.1/);
});

test('expired, wrongly signed, missing and garbage tokens are refused with UNAUTHENTICATED', async () => {
  const forger = await TokenIssuer.create(ISSUER);
  const stale = TokenIssuer.fromPrivateKey(
    ISSUER,
    { privateKeyPem: tokens.privateKeyPem(), publicKeyPem: tokens.publicKeyPem() },
    { now: () => new Date(Date.now() - 3600_000) },
  );
  const cases: [string, string][] = [
    ['expired', await stale.mint({ namespace: 'a', serviceAccount: 'x', ttlSeconds: 60 })],
    ['bad-signature', await forger.mint({ namespace: 'a', serviceAccount: 'x', ttlSeconds: 60 })],
    ['malformed', 'garbage'],
    ['missing', ''],
  ];
  for (const [reason, token] of cases) {
    const before = logs.length;
    await assert.rejects(
      requestCertificate({ address, rootCertPem: ca.rootBundlePem(), token, csrPem: await csrFor(), ttlSeconds: 600 }),
      (e: unknown) => e instanceof CaRequestError && e.grpcCode === grpc.status.UNAUTHENTICATED && e.code === 'E_CA_UNAUTHORIZED',
      reason,
    );
    const entry = logs.slice(before).find((l) => l.msg === 'certificate refused');
    assert.match(String(entry?.reason), new RegExp(`^${reason}:`));
  }
  // Impersonation through request metadata is refused too (Istio needs a node authorizer for it).
  const token = await tokens.mint({ namespace: 'a', serviceAccount: 'x', ttlSeconds: 600 });
  await assert.rejects(
    requestCertificate({
      address,
      rootCertPem: ca.rootBundlePem(),
      token,
      csrPem: await csrFor(),
      ttlSeconds: 600,
      metadata: { ImpersonatedIdentity: 'spiffe://cluster.local/ns/a/sa/y' },
    }),
    (e: unknown) => e instanceof CaRequestError && e.grpcCode === grpc.status.UNAUTHENTICATED,
  );
});

test('the client refuses a CA whose serving certificate is not from the mesh root', async () => {
  const other = await MeshCA.createSelfSigned({ trustDomain: 'cluster.local', clusterId: 'b' });
  const token = await tokens.mint({ namespace: 'a', serviceAccount: 'x', ttlSeconds: 600 });
  await assert.rejects(
    requestCertificate({ address, rootCertPem: other.rootBundlePem(), token, csrPem: await csrFor(), ttlSeconds: 600, timeoutMs: 5000 }),
    (e: unknown) => e instanceof CaRequestError && e.code === 'E_CA_UNAVAILABLE',
  );
});
