import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseCertificate } from '../../src/pki/certificate.js';
import { splitPemBundle } from '../../src/pki/pem.js';
import { assertOpensslAgrees, meshgateCommand, opensslSkip, opensslVerify, opensslView, run, tempDir } from './helpers.js';

interface InspectJson {
  certificates: { subject: string; issuer: string; serial: string; notBefore: string; notAfter: string; dns: string[]; uris: string[]; ips: string[]; isCa: boolean; extKeyUsage: string[]; fingerprintSha256: string }[];
  verify?: { ok: boolean; code?: string; reason?: string };
}

test('meshgate ca commands round-trip through ca inspect, and openssl agrees with inspect', { skip: opensslSkip }, async (t) => {
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

  // create-root: files 0600 in a 0700 directory, the key never printed.
  const created = await ok('create-root', '--name', 'Example Root CA R', '--org', 'Example Org', '--ttl', '8760h', '--out', f('r'));
  assert.doesNotMatch(created, /PRIVATE KEY/);
  assert.equal(statSync(f('r')).mode & 0o777, 0o700);
  for (const file of ['root-cert.pem', 'root-key.pem']) assert.equal(statSync(f('r', file)).mode & 0o777, 0o600, file);
  const again = await ca('create-root', '--name', 'X', '--out', f('r'));
  assert.notEqual(again.status, 0, 'refuses to replace an existing CA key');
  assert.match(again.stderr, /exists; refusing/);

  // issue: a server and a client credential.
  await ok('issue', '--ca', f('r'), '--dns', 'mysql.fqdn.example', '--usage', 'server', '--ttl', '720h', '--out', f('srv'));
  await ok('issue', '--ca', f('r'), '--dns', 'client.example', '--uri', 'spiffe://example.org/ns/istio-system/sa/egress', '--ip', '127.0.0.1', '--usage', 'client', '--key-alg', 'rsa-2048', '--out', f('cli'));
  assert.equal(statSync(f('srv', 'key.pem')).mode & 0o777, 0o600);
  const srv = await inspectJson(f('srv', 'cert.pem'), '--bundle', f('r', 'root-cert.pem'), '--usage', 'server');
  assert.equal(srv.status, 0);
  assert.equal(srv.value.verify?.ok, true);
  const sc = srv.value.certificates[0]!;
  assert.deepEqual(sc.dns, ['mysql.fqdn.example']);
  assert.deepEqual(sc.extKeyUsage, ['serverAuth']);
  assert.equal(new Date(sc.notAfter).getTime() - new Date(sc.notBefore).getTime(), 720 * 3600_000);
  const cli = await inspectJson(f('cli', 'cert.pem'), '--bundle', f('cli', 'ca.pem'));
  assert.equal(cli.value.verify?.ok, true);
  assert.deepEqual([cli.value.certificates[0]!.uris, cli.value.certificates[0]!.ips, cli.value.certificates[0]!.extKeyUsage], [['spiffe://example.org/ns/istio-system/sa/egress'], ['127.0.0.1'], ['clientAuth']]);
  const wrongUse = await inspectJson(f('srv', 'cert.pem'), '--bundle', f('r', 'root-cert.pem'), '--usage', 'client');
  assert.equal(wrongUse.status, 1);
  assert.equal(wrongUse.value.verify?.code, 'E_CERT_WRONG_USAGE');

  // openssl agrees with inspect on every certificate produced, and with its verdicts.
  for (const file of [f('r', 'root-cert.pem'), f('srv', 'cert.pem'), f('cli', 'cert.pem')]) {
    const pem = readFileSync(file, 'utf8');
    const o = opensslView(pem);
    const mine = (await inspectJson(file)).value.certificates[0]!;
    assert.deepEqual([mine.subject, mine.issuer, mine.serial, mine.fingerprintSha256, mine.notBefore, mine.notAfter, mine.dns, mine.uris, mine.isCa],
      [o.subject, o.issuer, o.serialHex, o.fingerprintSha256, o.notBefore.toISOString(), o.notAfter.toISOString(), o.dns, o.uris, o.isCa], `openssl and ca inspect disagree on ${file}`);
    assertOpensslAgrees(parseCertificate(pem));
  }
  assert.ok(opensslVerify(dir, readFileSync(f('srv', 'cert.pem'), 'utf8'), [readFileSync(f('r', 'root-cert.pem'), 'utf8')], { purpose: 'sslserver' }).ok);

  // Another root does not verify them, for inspect or for openssl.
  await ok('create-root', '--name', 'Other Root', '--out', f('other'));
  const foreign = await inspectJson(f('srv', 'cert.pem'), '--bundle', f('other', 'root-cert.pem'));
  assert.equal(foreign.status, 1);
  assert.equal(foreign.value.verify?.code, 'E_CERT_UNKNOWN_ISSUER');
  assert.equal(opensslVerify(dir, readFileSync(f('srv', 'cert.pem'), 'utf8'), [readFileSync(f('other', 'root-cert.pem'), 'utf8')]).ok, false);

  // secret: generic by default, kubernetes.io/tls plus <name>-cacert with --type tls; both inspect back to the same certificate.
  const generic = await ok('secret', '--name', 'mysql-credential', '--cert', f('srv', 'cert.pem'), '--key', f('srv', 'key.pem'), '--cacert', f('srv', 'ca.pem'));
  assert.match(generic, /kind: Secret/);
  assert.match(generic, /namespace: istio-system/);
  assert.match(generic, /tls\.crt:/);
  assert.match(generic, /ca\.crt:/);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(f('generic.yaml'), generic);
  const gi = JSON.parse((await ca('inspect', f('generic.yaml'), '-o', 'json')).stdout) as { secret: string; certificates: { fingerprintSha256: string }[]; verify: { ok: boolean } }[];
  assert.equal(gi[0]!.secret, 'istio-system/mysql-credential');
  assert.equal(gi[0]!.certificates[0]!.fingerprintSha256, sc.fingerprintSha256);
  assert.equal(gi[0]!.verify.ok, true);
  const tls = await ok('secret', '--name', 'mysql-credential', '--type', 'tls', '--cert', f('srv', 'cert.pem'), '--key', f('srv', 'key.pem'), '--cacert', f('srv', 'ca.pem'));
  assert.match(tls, /type: kubernetes\.io\/tls/);
  assert.match(tls, /name: mysql-credential-cacert/);
  writeFileSync(f('tls.yaml'), tls);
  const ti = JSON.parse((await ca('inspect', f('tls.yaml'), '-o', 'json')).stdout) as { cacertSecret: string; verify: { ok: boolean } }[];
  assert.equal(ti.length, 1);
  assert.equal(ti[0]!.cacertSecret, 'istio-system/mysql-credential-cacert');
  assert.equal(ti[0]!.verify.ok, true);
  const mismatch = await ca('secret', '--name', 'bad', '--cert', f('srv', 'cert.pem'), '--key', f('cli', 'key.pem'));
  assert.notEqual(mismatch.status, 0);
  assert.match(mismatch.stderr, /E_CREDENTIAL_INVALID.*does not belong/);

  // rotate: a fresh key and serial, same names and usage, same root.
  await ok('rotate', '--ca', f('r'), '--from', f('srv'), '--out', f('srv2'));
  const rotated = (await inspectJson(f('srv2', 'cert.pem'), '--bundle', f('r', 'root-cert.pem'))).value;
  assert.equal(rotated.verify?.ok, true);
  assert.notEqual(rotated.certificates[0]!.serial, sc.serial);
  assert.deepEqual([rotated.certificates[0]!.dns, rotated.certificates[0]!.extKeyUsage, rotated.certificates[0]!.subject], [sc.dns, sc.extKeyUsage, sc.subject]);
  assert.notEqual(readFileSync(f('srv2', 'key.pem'), 'utf8'), readFileSync(f('srv', 'key.pem'), 'utf8'));

  // rotate --new-root: leaf from the new root, bundle trusting old and new during the overlap.
  await ok('rotate', '--ca', f('r'), '--from', f('srv'), '--out', f('srv3'), '--new-root', f('r2'));
  const bundle = splitPemBundle(readFileSync(f('srv3', 'ca.pem'), 'utf8')).map((p) => parseCertificate(p));
  assert.equal(bundle.length, 2);
  assert.deepEqual(bundle.map((b) => b.subject).sort(), ['CN=Example Root CA R (next), O=Example Org', 'CN=Example Root CA R, O=Example Org']);
  assert.equal((await inspectJson(f('srv3', 'cert.pem'), '--bundle', f('srv3', 'ca.pem'))).value.verify?.ok, true, 'new leaf, overlap bundle');
  assert.equal((await inspectJson(f('srv', 'cert.pem'), '--bundle', f('srv3', 'ca.pem'))).value.verify?.ok, true, 'old leaf, overlap bundle');
  assert.equal((await inspectJson(f('srv3', 'cert.pem'), '--bundle', f('r', 'root-cert.pem'))).status, 1, 'new leaf, old root only');

  // revoke: the CRL makes the revoked leaf fail, for inspect and for openssl; the other leaf still passes.
  await ok('revoke', '--ca', f('r'), '--cert', f('srv', 'cert.pem'));
  assert.equal(statSync(f('r', 'crl.pem')).mode & 0o777, 0o600);
  const revoked = await inspectJson(f('srv', 'cert.pem'), '--bundle', f('r', 'root-cert.pem'), '--crl', f('r', 'crl.pem'));
  assert.equal(revoked.status, 1);
  assert.equal(revoked.value.verify?.code, 'E_CERT_REVOKED');
  assert.equal((await inspectJson(f('srv2', 'cert.pem'), '--bundle', f('r', 'root-cert.pem'), '--crl', f('r', 'crl.pem'))).value.verify?.ok, true);
  const crlPem = readFileSync(f('r', 'crl.pem'), 'utf8');
  const rootPem = readFileSync(f('r', 'root-cert.pem'), 'utf8');
  assert.equal(opensslVerify(dir, readFileSync(f('srv', 'cert.pem'), 'utf8'), [rootPem], { crls: [crlPem] }).ok, false);
  assert.ok(opensslVerify(dir, readFileSync(f('srv2', 'cert.pem'), 'utf8'), [rootPem], { crls: [crlPem] }).ok);
  // ...and when the CRL travels in the credential secret (Istio's ca.crl).
  writeFileSync(f('revoked.yaml'), await ok('secret', '--name', 'mysql-credential', '--cert', f('srv', 'cert.pem'), '--key', f('srv', 'key.pem'), '--cacert', f('srv', 'ca.pem'), '--crl', f('r', 'crl.pem')));
  const ri = await ca('inspect', f('revoked.yaml'), '-o', 'json');
  assert.equal(ri.status, 1);
  assert.equal((JSON.parse(ri.stdout) as { verify: { code: string } }[])[0]!.verify.code, 'E_CERT_REVOKED');

  // Garbage in, a clear error out.
  writeFileSync(f('garbage.pem'), `${rootPem}not a certificate\n`);
  const g = await ca('inspect', f('garbage.pem'));
  assert.notEqual(g.status, 0);
  assert.match(g.stderr, /E_PEM_INVALID.*garbage\.pem:\d+: unexpected text "not a certificate"/);
});
