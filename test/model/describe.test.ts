import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeProxy } from '../../src/model/describe.js';
import { clientSidecar, clusterA, egressGateway } from './fixtures.js';

test('describe says the egress origination verifies the SNI name where Istio would not (IST0128/IST0129)', async () => {
  const d = describeProxy(await clusterA(), egressGateway);
  const c = d.find((x) => x.name === 'outbound|13306||mysql.fqdn.example');
  assert.ok(c);
  assert.match(c.summary, /MUTUAL with credential kubernetes:\/\/client-credential, SNI mysql\.fqdn\.example/);
  assert.match(c.warnings.join('\n'), /IST0128\/IST0129/);
  const l = d.find((x) => x.kind === 'listener' && x.name === '0.0.0.0_15443');
  assert.match(
    l?.summary ?? '',
    /default\/istio-egressgateway-mysql ISTIO_MUTUAL SNI mysql\.fqdn\.example → outbound\|13306\|\|mysql\.fqdn\.example/,
  );
});

test("describe explains why the sidecar's credentialName cluster refuses connections", async () => {
  const d = describeProxy(await clusterA(), clientSidecar);
  const c = d.find((x) => x.name === 'outbound|13306||mysql.fqdn.example');
  assert.match(c?.summary ?? '', /REFUSES CONNECTIONS/);
  assert.match(c?.warnings[0] ?? '', /applies only to gateways/);
  const l = d.find((x) => x.name === '0.0.0.0_3306');
  assert.match(l?.summary ?? '', /mysql\.fqdn\.example:3306 → outbound\|15443\|mysql\|istio-egressgateway/);
});
