import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenIssuer, TokenVerifier, CaAuthError } from '../../src/pki/workload-token.js';

const ISSUER = 'https://kubernetes.default.svc.cluster-a';

function refusedAs(reason: string) {
  return (e: unknown): boolean => e instanceof CaAuthError && e.code === 'E_CA_UNAUTHORIZED' && e.reason === reason;
}

test('a token minted for ns/sa verifies to exactly that identity', async () => {
  const issuer = await TokenIssuer.create(ISSUER);
  const verifier = new TokenVerifier([issuer.publicKeyPem()], { issuer: ISSUER });
  const token = await issuer.mint({ namespace: 'a', serviceAccount: 'x', ttlSeconds: 600 });
  assert.deepEqual(await verifier.verify(token), { namespace: 'a', serviceAccount: 'x' });
  assert.doesNotMatch(JSON.stringify(await verifier.verify(token)), /eyJ/, 'the result carries no token material');
});

test('refuses expired and not-yet-valid tokens, allowing only the configured skew', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const issuer = await TokenIssuer.create(ISSUER, { now: () => now });
  const token = await issuer.mint({ namespace: 'a', serviceAccount: 'x', ttlSeconds: 60 });
  const at = (d: Date, skew = 5) => new TokenVerifier([issuer.publicKeyPem()], { issuer: ISSUER, clockSkewSeconds: skew, now: () => d });
  assert.ok(await at(new Date('2030-01-01T00:00:30Z')).verify(token));
  await assert.rejects(at(new Date('2030-01-01T00:01:10Z')).verify(token), refusedAs('expired'));
  assert.ok(await at(new Date('2030-01-01T00:01:03Z')).verify(token), 'within 5 s of skew');
  await assert.rejects(at(new Date('2029-12-31T23:59:00Z')).verify(token), refusedAs('not-yet-valid'));
  now = new Date('2030-01-01T00:00:00Z');
  const future = await issuer.mint({ namespace: 'a', serviceAccount: 'x', ttlSeconds: 60, notBefore: new Date('2030-01-01T01:00:00Z') });
  await assert.rejects(at(now).verify(future), refusedAs('not-yet-valid'));
});

test('refuses a token signed by an untrusted key, for another audience or issuer, and garbage', async () => {
  const issuer = await TokenIssuer.create(ISSUER);
  const forger = await TokenIssuer.create(ISSUER);
  const verifier = new TokenVerifier([issuer.publicKeyPem()], { issuer: ISSUER });
  await assert.rejects(
    verifier.verify(await forger.mint({ namespace: 'a', serviceAccount: 'x', ttlSeconds: 60 })),
    refusedAs('bad-signature'),
  );
  await assert.rejects(
    verifier.verify(await issuer.mint({ namespace: 'a', serviceAccount: 'x', ttlSeconds: 60, audience: 'kubernetes' })),
    refusedAs('wrong-audience'),
  );
  const otherCluster = TokenIssuer.fromPrivateKey('https://other', {
    privateKeyPem: issuer.privateKeyPem(),
    publicKeyPem: issuer.publicKeyPem(),
  });
  await assert.rejects(
    verifier.verify(await otherCluster.mint({ namespace: 'a', serviceAccount: 'x', ttlSeconds: 60 })),
    refusedAs('wrong-issuer'),
  );
  await assert.rejects(verifier.verify(''), refusedAs('missing'));
  await assert.rejects(verifier.verify('not-a-jwt'), refusedAs('malformed'));
  await assert.rejects(verifier.verify('a.b.c'), refusedAs('malformed'));
  // A valid token with its payload swapped for another identity no longer matches its signature.
  const good = await issuer.mint({ namespace: 'a', serviceAccount: 'x', ttlSeconds: 60 });
  const [h, p, s] = good.split('.') as [string, string, string];
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  payload.sub = 'system:serviceaccount:a:y';
  const tampered = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
  await assert.rejects(verifier.verify(tampered), refusedAs('bad-signature'));
  // alg=none is refused.
  const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`;
  await assert.rejects(verifier.verify(none), CaAuthError);
});

test('a verifier trusting two keys (issuer key rotation) accepts tokens from both', async () => {
  const oldIssuer = await TokenIssuer.create(ISSUER);
  const newIssuer = await TokenIssuer.create(ISSUER);
  const verifier = new TokenVerifier([oldIssuer.publicKeyPem(), newIssuer.publicKeyPem()], { issuer: ISSUER });
  assert.deepEqual(await verifier.verify(await oldIssuer.mint({ namespace: 'a', serviceAccount: 'x', ttlSeconds: 60 })), {
    namespace: 'a',
    serviceAccount: 'x',
  });
  assert.deepEqual(await verifier.verify(await newIssuer.mint({ namespace: 'b', serviceAccount: 'y', ttlSeconds: 60 })), {
    namespace: 'b',
    serviceAccount: 'y',
  });
});
