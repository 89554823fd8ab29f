import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { readCredentialSecret } from '../../src/pki/credential-secret.js';
import { pairCredentialSecrets, parseSecretDocuments } from '../../src/pki/secret-manifest.js';
import { parseCertificate } from '../../src/pki/certificate.js';
import { splitPemBundle } from '../../src/pki/pem.js';
import { verifyChain } from '../../src/pki/verify.js';
import { assertOpensslAgrees, meshgateCommand, opensslSkip, opensslVerify, run, tempDir } from './helpers.js';
import { repoRoot } from '../repo-root.js';

test('make-credentials.sh produces the two gateway Secrets from root R using only meshgate ca', { skip: opensslSkip }, async (t) => {
  const dir = tempDir(t);
  const outDir = path.join(dir, 'creds');
  const script = path.join(repoRoot(), 'examples/mysql-cross-cluster/make-credentials.sh');
  const r = await run('bash', [script, outDir], { env: { ...process.env, MESHGATE: meshgateCommand(dir) } });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readdirSync(outDir).sort(), [
    'client-credential',
    'client-credential.yaml',
    'mysql-credential',
    'mysql-credential.yaml',
    'root-ca',
  ]);
  const root = readFileSync(path.join(outDir, 'root-ca/root-cert.pem'), 'utf8');
  const read = (name: string) => {
    const secrets = parseSecretDocuments(readFileSync(path.join(outDir, `${name}.yaml`), 'utf8'));
    assert.equal(secrets.length, 1);
    assert.deepEqual(secrets[0]!.metadata, { name, namespace: 'istio-system' });
    const [{ secret, cacert }] = pairCredentialSecrets(secrets) as [{ secret: (typeof secrets)[0]; cacert?: (typeof secrets)[0] }];
    return readCredentialSecret(secret!, cacert);
  };
  const client = read('client-credential');
  const server = read('mysql-credential');
  for (const [cred, usage] of [
    [client, 'client'],
    [server, 'server'],
  ] as const) {
    assert.equal(splitPemBundle(cred.caPem!).length, 1);
    assert.equal(parseCertificate(cred.caPem!).fingerprintSha256, parseCertificate(root).fingerprintSha256, 'both trust root R only');
    const res = verifyChain([cred.certChainPem!], [cred.caPem!], { usage });
    assert.ok(res.ok, JSON.stringify(res));
    assert.ok(opensslVerify(dir, cred.certChainPem!, [root], { purpose: usage === 'server' ? 'sslserver' : 'sslclient' }).ok);
    assertOpensslAgrees(parseCertificate(cred.certChainPem!));
  }
  assert.deepEqual(parseCertificate(server.certChainPem!).dns, ['mysql.fqdn.example']);
  assert.deepEqual(parseCertificate(client.certChainPem!).extKeyUsage, ['clientAuth']);
  assert.match(r.stdout, /client-credential\.yaml/);
  assert.doesNotMatch(r.stdout + r.stderr, /PRIVATE KEY/);
});
