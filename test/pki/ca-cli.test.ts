import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseCertificate } from '../../src/pki/certificate.js';
import { assertOpensslAgrees, meshgateCommand, opensslSkip, opensslVerify, opensslView, run, tempDir } from './helpers.js';

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

test('create-root, issue and secret round-trip through ca inspect, and openssl agrees with inspect', { skip: opensslSkip }, async (t) => {
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
  await Promise.all([
    ok('issue', '--ca', f('r'), '--dns', 'mysql.fqdn.example', '--usage', 'server', '--ttl', '720h', '--out', f('srv')),
    ok(
      'issue',
      '--ca',
      f('r'),
      '--dns',
      'client.example',
      '--uri',
      'spiffe://example.org/ns/istio-system/sa/egress',
      '--ip',
      '127.0.0.1',
      '--usage',
      'client',
      '--key-alg',
      'rsa-2048',
      '--out',
      f('cli'),
    ),
  ]);
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
  assert.deepEqual(
    [cli.value.certificates[0]!.uris, cli.value.certificates[0]!.ips, cli.value.certificates[0]!.extKeyUsage],
    [['spiffe://example.org/ns/istio-system/sa/egress'], ['127.0.0.1'], ['clientAuth']],
  );
  const wrongUse = await inspectJson(f('srv', 'cert.pem'), '--bundle', f('r', 'root-cert.pem'), '--usage', 'client');
  assert.equal(wrongUse.status, 1);
  assert.equal(wrongUse.value.verify?.code, 'E_CERT_WRONG_USAGE');

  // openssl agrees with inspect on every certificate produced, and with its verdicts.
  const rootView = (await inspectJson(f('r', 'root-cert.pem'))).value.certificates[0]!;
  for (const [file, mine] of [
    [f('r', 'root-cert.pem'), rootView],
    [f('srv', 'cert.pem'), sc],
    [f('cli', 'cert.pem'), cli.value.certificates[0]!],
  ] as const) {
    const pem = readFileSync(file, 'utf8');
    const o = opensslView(pem);
    assert.deepEqual(
      [mine.subject, mine.issuer, mine.serial, mine.fingerprintSha256, mine.notBefore, mine.notAfter, mine.dns, mine.uris, mine.isCa],
      [o.subject, o.issuer, o.serialHex, o.fingerprintSha256, o.notBefore.toISOString(), o.notAfter.toISOString(), o.dns, o.uris, o.isCa],
      `openssl and ca inspect disagree on ${file}`,
    );
    assertOpensslAgrees(parseCertificate(pem));
  }
  assert.ok(
    opensslVerify(dir, readFileSync(f('srv', 'cert.pem'), 'utf8'), [readFileSync(f('r', 'root-cert.pem'), 'utf8')], {
      purpose: 'sslserver',
    }).ok,
  );

  // Another root does not verify them, for inspect or for openssl.
  await ok('create-root', '--name', 'Other Root', '--out', f('other'));
  const foreign = await inspectJson(f('srv', 'cert.pem'), '--bundle', f('other', 'root-cert.pem'));
  assert.equal(foreign.status, 1);
  assert.equal(foreign.value.verify?.code, 'E_CERT_UNKNOWN_ISSUER');
  assert.equal(
    opensslVerify(dir, readFileSync(f('srv', 'cert.pem'), 'utf8'), [readFileSync(f('other', 'root-cert.pem'), 'utf8')]).ok,
    false,
  );

  // secret: generic by default, kubernetes.io/tls plus <name>-cacert with --type tls; both inspect back to the same certificate.
  const generic = await ok(
    'secret',
    '--name',
    'mysql-credential',
    '--cert',
    f('srv', 'cert.pem'),
    '--key',
    f('srv', 'key.pem'),
    '--cacert',
    f('srv', 'ca.pem'),
  );
  assert.match(generic, /kind: Secret/);
  assert.match(generic, /namespace: istio-system/);
  assert.match(generic, /tls\.crt:/);
  assert.match(generic, /ca\.crt:/);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(f('generic.yaml'), generic);
  const gi = JSON.parse((await ca('inspect', f('generic.yaml'), '-o', 'json')).stdout) as {
    secret: string;
    certificates: { fingerprintSha256: string }[];
    verify: { ok: boolean };
  }[];
  assert.equal(gi[0]!.secret, 'istio-system/mysql-credential');
  assert.equal(gi[0]!.certificates[0]!.fingerprintSha256, sc.fingerprintSha256);
  assert.equal(gi[0]!.verify.ok, true);
  const tls = await ok(
    'secret',
    '--name',
    'mysql-credential',
    '--type',
    'tls',
    '--cert',
    f('srv', 'cert.pem'),
    '--key',
    f('srv', 'key.pem'),
    '--cacert',
    f('srv', 'ca.pem'),
  );
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

  // Garbage in, a clear error out.
  writeFileSync(f('garbage.pem'), `${readFileSync(f('r', 'root-cert.pem'), 'utf8')}not a certificate\n`);
  const g = await ca('inspect', f('garbage.pem'));
  assert.notEqual(g.status, 0);
  assert.match(g.stderr, /E_PEM_INVALID.*garbage\.pem:\d+: unexpected text "not a certificate"/);
});
