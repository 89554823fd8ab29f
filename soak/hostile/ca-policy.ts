// Issue 14's CA policy, kept in the soak so it stays fixed, against the control plane's real CA service
// (gRPC over TLS, its own process): CSRs with weak keys (RSA under 2048 bits, EC curves other than P-256
// and P-384, Ed25519) are refused INVALID_ARGUMENT (E_CSR_KEY_REJECTED); a lifetime over the maximum
// (24 h) is refused (E_CA_TTL_TOO_LONG); a certificate never outlives the token that asked for it; one
// identity asking too often is refused RESOURCE_EXHAUSTED while another is still served. Control: RSA
// 2048 and EC P-256/P-384 CSRs are issued for the lifetime asked. CSRs are made by openssl (Node's
// WebCrypto cannot sign with the weak keys); without openssl only RSA keys are tried.
import { spawnSync } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { requestCertificate, type CaRequestError } from '../../src/pki/ca-service.js';
import { createCsr, parseCertificate } from '../../src/pki/certificate.js';
import { generateKeyPair } from '../../src/pki/keys.js';
import type { SoakReport } from '../results.js';
import { runFamily, type Verdict, type Variant } from './family.js';
import type { ControlPlaneTarget } from './controlplane.js';

function opensslCsr(newkey: string[]): string | undefined {
  const r = spawnSync('openssl', ['req', '-new', ...newkey, '-nodes', '-keyout', '/dev/null', '-subj', '/O=soak', '-outform', 'PEM'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return r.status === 0 ? r.stdout : undefined;
}

const WEAK_KEYS: [string, string[]][] = [
  ['RSA 1024', ['-newkey', 'rsa:1024']],
  ['RSA 1536', ['-newkey', 'rsa:1536']],
  ['EC P-521', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp521r1']],
  ['EC secp256k1', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp256k1']],
  ['Ed25519', ['-newkey', 'ed25519']],
];
const GOOD_KEYS: [string, string[]][] = [
  ['RSA 2048', ['-newkey', 'rsa:2048']],
  ['EC P-256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']],
  ['EC P-384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp384r1']],
];

function jwtExp(token: string): number {
  return (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { exp: number }).exp;
}

const lifetime = (pem: string): number => {
  const c = parseCertificate(pem);
  return (c.notAfter.getTime() - c.notBefore.getTime()) / 1000;
};

export async function runCaPolicyAttacks(
  report: SoakReport,
  cp: ControlPlaneTarget,
  rounds: number,
  log: (line: string) => void,
): Promise<void> {
  const base = { address: cp.address, rootCertPem: cp.rootCertPem, timeoutMs: 10_000 };
  let n = 0;
  // Each request from an identity of its own, so the rate limit of one never decides another's verdict.
  const token = (ttlSeconds = 3600, sa = `soak-ca-${n++}`): Promise<string> =>
    cp.tokens.mint({ namespace: 'default', serviceAccount: sa, ttlSeconds });
  const refusedWith = async (csrPem: string, ttlSeconds: number, code: grpc.status, marker: RegExp): Promise<Verdict> => {
    try {
      await requestCertificate({ ...base, token: await token(), csrPem, ttlSeconds });
      return { ok: false, why: 'the CA issued a certificate' };
    } catch (err) {
      const e = err as CaRequestError;
      return e.grpcCode === code && marker.test(e.message)
        ? { ok: true }
        : { ok: false, why: `refused, but not ${grpc.status[code]} ${String(marker)}: ${e.message}` };
    }
  };
  const haveOpenssl = opensslCsr(GOOD_KEYS[1]![1]) !== undefined;
  if (!haveOpenssl) log('ca: no openssl, so only the RSA keys Node can sign a CSR with are tried');
  const ecCsr = async (): Promise<string> => createCsr({ privateKeyPem: (await generateKeyPair('ec-p256')).privateKeyPem });

  const weak: Variant[] = (haveOpenssl ? WEAK_KEYS : WEAK_KEYS.filter(([w]) => w.startsWith('RSA'))).map(([what, spec]) => ({
    what: `a CSR with a ${what} key`,
    run: async () => {
      const csr = haveOpenssl ? opensslCsr(spec) : undefined;
      if (!csr) return { ok: false, why: `openssl could not make a ${what} CSR` };
      return refusedWith(csr, 3600, grpc.status.INVALID_ARGUMENT, /E_CSR_KEY_REJECTED/);
    },
  }));
  const lifetimes: Variant[] = [
    { what: 'a 48 h lifetime', run: async () => refusedWith(await ecCsr(), 48 * 3600, grpc.status.INVALID_ARGUMENT, /E_CA_TTL_TOO_LONG/) },
    {
      what: 'a 10-year lifetime',
      run: async () => refusedWith(await ecCsr(), 10 * 365 * 86400, grpc.status.INVALID_ARGUMENT, /E_CA_TTL_TOO_LONG/),
    },
    {
      what: 'an hour asked with a token that expires in 90 s',
      run: async () => {
        const t = await token(90);
        const chain = await requestCertificate({ ...base, token: t, csrPem: await ecCsr(), ttlSeconds: 3600 });
        const notAfter = parseCertificate(chain[0]!).notAfter.getTime() / 1000;
        return notAfter <= jwtExp(t) + 1
          ? { ok: true }
          : { ok: false, why: `the certificate outlives its token by ${Math.round(notAfter - jwtExp(t))} s` };
      },
    },
    {
      what: 'one identity asking 120 times at once',
      run: async () => {
        const sa = `soak-ca-burst-${n++}`;
        const csr = await ecCsr();
        const t = await token(3600, sa);
        const codes = await Promise.all(
          Array.from({ length: 120 }, () =>
            requestCertificate({ ...base, token: t, csrPem: csr, ttlSeconds: 3600 }).then(
              () => 'issued',
              (err: unknown) => grpc.status[(err as CaRequestError).grpcCode ?? -1] ?? (err as Error).message,
            ),
          ),
        );
        const limited = codes.filter((c) => c === 'RESOURCE_EXHAUSTED').length;
        const other = codes.filter((c) => c !== 'RESOURCE_EXHAUSTED' && c !== 'issued');
        if (limited === 0) return { ok: false, why: `120 requests of ${sa}: none refused RESOURCE_EXHAUSTED` };
        if (other.length > 0) return { ok: false, why: `unexpected outcomes: ${[...new Set(other)].join(', ')}` };
        // Per identity: another one is still served at once.
        await requestCertificate({ ...base, token: await token(), csrPem: csr, ttlSeconds: 3600 });
        return { ok: true };
      },
    },
  ];
  await runFamily(report, log, 'ca: weak keys and over-long lifetimes', {
    control: {
      what: `${haveOpenssl ? 'RSA 2048, EC P-256 and P-384 CSRs are' : 'an EC P-256 CSR is'} issued for the hour asked`,
      run: async () => {
        const csrs = haveOpenssl ? GOOD_KEYS.map(([, spec]) => opensslCsr(spec)!) : [await ecCsr()];
        for (const csrPem of csrs) {
          const chain = await requestCertificate({ ...base, token: await token(), csrPem, ttlSeconds: 3600 });
          const l = lifetime(chain[0]!);
          if (Math.abs(l - 3600) > 120) return { ok: false, why: `asked 3600 s, got ${l} s` };
        }
        return { ok: true };
      },
    },
    rounds,
    variants: [...weak, ...lifetimes],
  });
}
