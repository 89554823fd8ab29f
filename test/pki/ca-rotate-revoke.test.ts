import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseCertificate } from '../../src/pki/certificate.js';
import { splitPemBundle } from '../../src/pki/pem.js';
import { meshgateCommand, opensslSkip, opensslVerify, run, tempDir } from './helpers.js';

interface InspectJson {
  certificates: {
    subject: string;
    issuer: string;
    serial: string;
    notBefore: string;
    notAfter: string;
    dns: string[];
    uris: string[];
    ips: string[];
    isCa: boolean;
    extKeyUsage: string[];
    fingerprintSha256: string;
  }[];
  verify?: { ok: boolean; code?: string; reason?: string };
}

test(
  'rotate keeps names and usage (and --new-root trusts both roots); revoke makes the leaf fail with the CRL, as openssl agrees',
  { skip: opensslSkip },
  async (t) => {
    const dir = tempDir(t);
    const mg = meshgateCommand(dir);
    const ca = async (...args: string[]) => run(mg, ['ca', ...args], { cwd: dir });
    const ok = async (...args: string[]) => {
      const r = await ca(...args);
      assert.equal(r.status, 0, `meshgate ca ${args.join(' ')} failed: ${r.stderr}`);
      return r.stdout;
    };
    const inspectJson = async (...args: string[]): Promise<{ status: number; value: InspectJson }> => {
      const r = await ca('inspect', ...args, '-o', 'json');
      assert.ok(r.stdout.length > 0, r.stderr);
      return { status: r.status, value: JSON.parse(r.stdout) as InspectJson };
    };
    const f = (...p: string[]) => path.join(dir, ...p);

    await ok('create-root', '--name', 'Example Root CA R', '--org', 'Example Org', '--ttl', '8760h', '--out', f('r'));
    await ok('issue', '--ca', f('r'), '--dns', 'mysql.fqdn.example', '--usage', 'server', '--ttl', '720h', '--out', f('srv'));
    const sc = (await inspectJson(f('srv', 'cert.pem'))).value.certificates[0]!;
    const { writeFileSync } = await import('node:fs');
    // rotate: a fresh key and serial, same names and usage, same root.
    await Promise.all([
      ok('rotate', '--ca', f('r'), '--from', f('srv'), '--out', f('srv2')),
      ok('rotate', '--ca', f('r'), '--from', f('srv'), '--out', f('srv3'), '--new-root', f('r2')),
    ]);
    const rotated = (await inspectJson(f('srv2', 'cert.pem'), '--bundle', f('r', 'root-cert.pem'))).value;
    assert.equal(rotated.verify?.ok, true);
    assert.notEqual(rotated.certificates[0]!.serial, sc.serial);
    assert.deepEqual(
      [rotated.certificates[0]!.dns, rotated.certificates[0]!.extKeyUsage, rotated.certificates[0]!.subject],
      [sc.dns, sc.extKeyUsage, sc.subject],
    );
    assert.notEqual(readFileSync(f('srv2', 'key.pem'), 'utf8'), readFileSync(f('srv', 'key.pem'), 'utf8'));

    // rotate --new-root: leaf from the new root, bundle trusting old and new during the overlap.
    const bundle = splitPemBundle(readFileSync(f('srv3', 'ca.pem'), 'utf8')).map((p) => parseCertificate(p));
    assert.equal(bundle.length, 2);
    assert.deepEqual(bundle.map((b) => b.subject).sort(), [
      'CN=Example Root CA R (next), O=Example Org',
      'CN=Example Root CA R, O=Example Org',
    ]);
    assert.equal(
      (await inspectJson(f('srv3', 'cert.pem'), '--bundle', f('srv3', 'ca.pem'))).value.verify?.ok,
      true,
      'new leaf, overlap bundle',
    );
    assert.equal(
      (await inspectJson(f('srv', 'cert.pem'), '--bundle', f('srv3', 'ca.pem'))).value.verify?.ok,
      true,
      'old leaf, overlap bundle',
    );
    assert.equal((await inspectJson(f('srv3', 'cert.pem'), '--bundle', f('r', 'root-cert.pem'))).status, 1, 'new leaf, old root only');

    // revoke: the CRL makes the revoked leaf fail, for inspect and for openssl; the other leaf still passes.
    await ok('revoke', '--ca', f('r'), '--cert', f('srv', 'cert.pem'));
    assert.equal(statSync(f('r', 'crl.pem')).mode & 0o777, 0o600);
    const revoked = await inspectJson(f('srv', 'cert.pem'), '--bundle', f('r', 'root-cert.pem'), '--crl', f('r', 'crl.pem'));
    assert.equal(revoked.status, 1);
    assert.equal(revoked.value.verify?.code, 'E_CERT_REVOKED');
    assert.equal(
      (await inspectJson(f('srv2', 'cert.pem'), '--bundle', f('r', 'root-cert.pem'), '--crl', f('r', 'crl.pem'))).value.verify?.ok,
      true,
    );
    const crlPem = readFileSync(f('r', 'crl.pem'), 'utf8');
    const rootPem = readFileSync(f('r', 'root-cert.pem'), 'utf8');
    assert.equal(opensslVerify(dir, readFileSync(f('srv', 'cert.pem'), 'utf8'), [rootPem], { crls: [crlPem] }).ok, false);
    assert.ok(opensslVerify(dir, readFileSync(f('srv2', 'cert.pem'), 'utf8'), [rootPem], { crls: [crlPem] }).ok);
    // ...and when the CRL travels in the credential secret (Istio's ca.crl).
    writeFileSync(
      f('revoked.yaml'),
      await ok(
        'secret',
        '--name',
        'mysql-credential',
        '--cert',
        f('srv', 'cert.pem'),
        '--key',
        f('srv', 'key.pem'),
        '--cacert',
        f('srv', 'ca.pem'),
        '--crl',
        f('r', 'crl.pem'),
      ),
    );
    const ri = await ca('inspect', f('revoked.yaml'), '-o', 'json');
    assert.equal(ri.status, 1);
    assert.equal((JSON.parse(ri.stdout) as { verify: { code: string } }[])[0]!.verify.code, 'E_CERT_REVOKED');
  },
);
