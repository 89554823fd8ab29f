// The CA's policy, through the real gRPC service over TLS on 127.0.0.1 with CSRs made by openssl:
// which keys it signs, the maximum lifetime (refused above it, as Istio), a certificate never outliving
// the token that asked for it, and the per-identity rate limit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MeshCA } from '../../src/pki/mesh-ca.js';
import { TokenIssuer, TokenVerifier } from '../../src/pki/workload-token.js';
import { addCertificateService, requestCertificate, CaRequestError, type CertificateServiceOptions } from '../../src/pki/ca-service.js';
import { DEFAULT_CA_RATE_LIMIT, IdentityRateLimiter } from '../../src/pki/identity-rate-limit.js';
import { parseCertificate } from '../../src/pki/certificate.js';
import { openssl, opensslSkip, runningCompiled } from './helpers.js';
import { fileURLToPath } from 'node:url';

const ISSUER = 'https://kubernetes.default.svc';
let ca: MeshCA;
let tokens: TokenIssuer;
const servers: grpc.Server[] = [];
const logs: Record<string, unknown>[] = [];

before(async () => {
  ca = await MeshCA.createSelfSigned({ trustDomain: 'cluster.local', clusterId: 'a' });
  tokens = await TokenIssuer.create(ISSUER);
});

after(async () => {
  for (const s of servers) await new Promise<void>((resolve) => s.tryShutdown(() => resolve()));
});

/** A CA service of its own (its own rate-limit buckets) on 127.0.0.1; returns its address. */
async function startService(extra: Partial<CertificateServiceOptions> = {}): Promise<string> {
  const serving = await ca.issueServingCertificate(['istiod.istio-system.svc'], 3600);
  const server = new grpc.Server();
  servers.push(server);
  addCertificateService(server, {
    ca,
    verifier: new TokenVerifier([tokens.publicKeyPem()], { issuer: ISSUER }),
    log: (e) => logs.push(e as Record<string, unknown>),
    ...extra,
  });
  const creds = grpc.ServerCredentials.createSsl(
    null,
    [{ cert_chain: Buffer.from(serving.certChainPem), private_key: Buffer.from(serving.privateKeyPem) }],
    false,
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return `127.0.0.1:${port}`;
}

/** A CSR made by openssl with `-newkey SPEC` (its key thrown away). */
function opensslCsr(newkey: string[]): string {
  const r = openssl(['req', '-new', ...newkey, '-nodes', '-keyout', '/dev/null', '-subj', '/O=test', '-outform', 'PEM']);
  assert.equal(r.status, 0, `openssl req ${newkey.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const token = (sa = 'x', ttlSeconds = 2 * 86400): Promise<string> => tokens.mint({ namespace: 'a', serviceAccount: sa, ttlSeconds });
const lifetime = (pem: string): number => {
  const i = parseCertificate(pem);
  return (i.notAfter.getTime() - i.notBefore.getTime()) / 1000;
};

test(
  'signs RSA 2048 and EC P-256/P-384 CSRs; refuses RSA 1024, P-521, secp256k1 and Ed25519 with E_CSR_KEY_REJECTED (INVALID_ARGUMENT)',
  { skip: opensslSkip },
  async () => {
    const address = await startService();
    const accepted: [string, string[]][] = [
      ['RSA 2048', ['-newkey', 'rsa:2048']],
      ['EC P-256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']],
      ['EC P-384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp384r1']],
    ];
    for (const [name, spec] of accepted) {
      const chain = await requestCertificate({
        address,
        rootCertPem: ca.rootBundlePem(),
        token: await token(),
        csrPem: opensslCsr(spec),
        ttlSeconds: 3600,
      });
      assert.deepEqual(parseCertificate(chain[0] as string).uris, ['spiffe://cluster.local/ns/a/sa/x'], name);
    }
    const refused: [string, string[], RegExp][] = [
      [
        'RSA 1024',
        ['-newkey', 'rsa:1024'],
        /E_CSR_KEY_REJECTED: the CSR's key is not accepted: RSA key of 1024 bits; at least 2048 bits are required/,
      ],
      [
        'EC P-521',
        ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp521r1'],
        /E_CSR_KEY_REJECTED: .*EC key on curve secp521r1; only P-256 and P-384 are accepted/,
      ],
      ['EC secp256k1', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp256k1'], /E_CSR_KEY_REJECTED: .*EC key on curve secp256k1/],
      [
        'Ed25519',
        ['-newkey', 'ed25519'],
        /E_CSR_KEY_REJECTED: .*ed25519 key; only RSA \(2048 bits or more\) and EC P-256\/P-384 keys are accepted/,
      ],
    ];
    for (const [name, spec, message] of refused) {
      const before = logs.length;
      await assert.rejects(
        requestCertificate({ address, rootCertPem: ca.rootBundlePem(), token: await token(), csrPem: opensslCsr(spec), ttlSeconds: 3600 }),
        (e: unknown) => e instanceof CaRequestError && e.grpcCode === grpc.status.INVALID_ARGUMENT && message.test(e.message),
        name,
      );
      assert.ok(
        logs.slice(before).some((l) => l.msg === 'certificate refused' && message.test(String(l.reason))),
        `${name}: the refusal is logged`,
      );
    }
  },
);

test(
  'TTL: 24 h by default and at most; a longer request is refused as Istio does (INVALID_ARGUMENT, E_CA_TTL_TOO_LONG)',
  { skip: opensslSkip },
  async () => {
    const address = await startService();
    const csr = (): string => opensslCsr(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']);
    assert.equal(
      lifetime(
        (
          await requestCertificate({ address, rootCertPem: ca.rootBundlePem(), token: await token(), csrPem: csr(), ttlSeconds: 0 })
        )[0] as string,
      ),
      86400,
      'no TTL asked: 24 h',
    );
    assert.equal(
      lifetime(
        (
          await requestCertificate({ address, rootCertPem: ca.rootBundlePem(), token: await token(), csrPem: csr(), ttlSeconds: 86400 })
        )[0] as string,
      ),
      86400,
      'exactly the maximum',
    );
    await assert.rejects(
      requestCertificate({ address, rootCertPem: ca.rootBundlePem(), token: await token(), csrPem: csr(), ttlSeconds: 86400 + 3600 }),
      (e: unknown) =>
        e instanceof CaRequestError &&
        e.grpcCode === grpc.status.INVALID_ARGUMENT &&
        /E_CA_TTL_TOO_LONG: requested TTL 25h is greater than the max allowed TTL 24h/.test(e.message),
    );
    // A CA with a 1 h maximum (what --max-workload-cert-ttl 1h gives the control plane).
    const short = await MeshCA.createSelfSigned({ trustDomain: 'cluster.local', maxTtlSeconds: 3600 });
    await assert.rejects(
      short.signWorkloadCsr(csr(), { namespace: 'a', serviceAccount: 'x' }, 7200),
      /requested TTL 2h is greater than the max allowed TTL 1h/,
    );
    assert.equal(
      lifetime((await short.signWorkloadCsr(csr(), { namespace: 'a', serviceAccount: 'x' }, 0))[0] as string),
      3600,
      'the default is cut to the maximum',
    );
  },
);

test('a certificate never outlives the token that asked for it: notAfter is capped at the token exp', { skip: opensslSkip }, async () => {
  const address = await startService();
  const t = await token('x', 600);
  const exp = (JSON.parse(Buffer.from(t.split('.')[1] as string, 'base64url').toString()) as { exp: number }).exp;
  const chain = await requestCertificate({
    address,
    rootCertPem: ca.rootBundlePem(),
    token: t,
    csrPem: opensslCsr(['-newkey', 'rsa:2048']),
    ttlSeconds: 3600,
  });
  const leaf = parseCertificate(chain[0] as string);
  assert.ok(
    leaf.notAfter.getTime() <= exp * 1000,
    `notAfter ${leaf.notAfter.toISOString()} must not pass the token exp ${new Date(exp * 1000).toISOString()}`,
  );
  assert.ok(leaf.notAfter.getTime() >= exp * 1000 - 5000, 'and is the token exp, not something shorter');
  assert.ok(lifetime(chain[0] as string) < 3600);
  // In the CA itself: a limit already past is refused, never turned into a certificate.
  await assert.rejects(
    ca.signWorkloadCsr(opensslCsr(['-newkey', 'rsa:2048']), { namespace: 'a', serviceAccount: 'x' }, 3600, {
      notAfterLimit: new Date(Date.now() - 1000),
    }),
    (e: unknown) => (e as { code?: string }).code === 'E_CA_CREDENTIAL_EXPIRED',
  );
});

test(
  'rate limit per SPIFFE identity: past the burst, RESOURCE_EXHAUSTED with a clear message; another identity is unaffected',
  { skip: opensslSkip },
  async () => {
    const address = await startService({ rateLimit: { burst: 3, perSecond: 0.01 } });
    const csr = opensslCsr(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']);
    for (let i = 0; i < 3; i++)
      await requestCertificate({ address, rootCertPem: ca.rootBundlePem(), token: await token('x'), csrPem: csr, ttlSeconds: 3600 });
    const before = logs.length;
    await assert.rejects(
      requestCertificate({ address, rootCertPem: ca.rootBundlePem(), token: await token('x'), csrPem: csr, ttlSeconds: 3600 }),
      (e: unknown) =>
        e instanceof CaRequestError &&
        e.grpcCode === grpc.status.RESOURCE_EXHAUSTED &&
        /rate limit: spiffe:\/\/cluster\.local\/ns\/a\/sa\/x made more than 3 certificate requests \(then 0\.01 per second\); retry in \d+ s/.test(
          e.message,
        ),
    );
    const entry = logs.slice(before).find((l) => l.msg === 'certificate refused');
    assert.equal(entry?.code, 'RESOURCE_EXHAUSTED', 'the refusal is logged');
    const other = await requestCertificate({
      address,
      rootCertPem: ca.rootBundlePem(),
      token: await token('y'),
      csrPem: csr,
      ttlSeconds: 3600,
    });
    assert.deepEqual(parseCertificate(other[0] as string).uris, ['spiffe://cluster.local/ns/a/sa/y']);
  },
);

test('the default rate limit never meets renewals or a lab: 100 at once, then 2 per second, refilled for renewals', () => {
  let now = 0;
  const limiter = new IdentityRateLimiter({ ...DEFAULT_CA_RATE_LIMIT, now: () => now });
  for (let i = 0; i < 100; i++)
    assert.equal(limiter.take('spiffe://td/ns/a/sa/x'), 0, `request ${i + 1} of a burst of 100 (a Deployment of 100 replicas starting)`);
  assert.equal(limiter.take('spiffe://td/ns/a/sa/x'), 1, 'the 101st waits a second');
  now += 1000;
  assert.equal(limiter.take('spiffe://td/ns/a/sa/x'), 0);
  for (let day = 0; day < 30; day++) {
    now += 12 * 3600_000; // a renewal at half of a 24 h certificate
    for (let pod = 0; pod < 100; pod++) assert.equal(limiter.take('spiffe://td/ns/a/sa/x'), 0);
  }
});

test(
  'meshgate control-plane refuses a --max-workload-cert-ttl that is not a duration',
  { skip: runningCompiled() ? false : 'runs the compiled CLI (dist/)' },
  async () => {
    const main = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.js');
    const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [main, 'control-plane', '--config', '/nonexistent', '--cluster-id', 'c', '--max-workload-cert-ttl', 'a day'],
        { timeout: 30_000 },
        (err, _out, stderr) => {
          resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr });
        },
      );
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--max-workload-cert-ttl: invalid duration "a day"/);
  },
);
