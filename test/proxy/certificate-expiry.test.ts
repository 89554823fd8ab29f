import { test } from 'node:test';
import assert from 'node:assert/strict';
import { certSecret, issue, makeCa, metric, newProxy, waitFor } from './helpers.js';

test('a gateway credential about to expire is in the metrics, warned about on arrival, and logged when it expires', async (t) => {
  const ca = await makeCa('root R');
  // Valid from 10 s ago for 13 s: expires about 3 s from now.
  const leaf = await issue(ca, { dns: ['mysql.fqdn.example'], now: new Date(Date.now() - 10_000), ttlSeconds: 13 });
  const { proxy, warnings } = newProxy(t);
  proxy.applySecrets([certSecret('kubernetes://mysql-credential', leaf)]);

  const expiry = await metric(proxy, 'meshgate_proxy_certificate_expiration_unix_time_seconds', {
    secret: 'kubernetes://mysql-credential',
    serial: leaf.serial,
  });
  const validTo = Math.floor(Date.parse(proxy.certs().find((c) => c.name === 'kubernetes://mysql-credential')!.validTo) / 1000);
  assert.equal(expiry, validTo, "the gauge carries the certificate's notAfter");
  assert.equal(await metric(proxy, 'envoy_server_days_until_first_cert_expiring'), 0);
  assert.ok(
    warnings.some((w) => /mysql-credential.*expires at/.test(w)),
    `a warning on arrival, got: ${warnings.join(' | ')}`,
  );

  await waitFor(() => warnings.some((w) => /mysql-credential.*expired at/.test(w)), 8000, 'the expiry log line');
  assert.equal((await metric(proxy, 'envoy_server_days_until_first_cert_expiring')) < 0, true, 'negative days once expired');
});

test('a credential with a long life raises no warning', async (t) => {
  const ca = await makeCa('root R');
  const leaf = await issue(ca, { dns: ['mysql.fqdn.example'], ttlSeconds: 30 * 86400 });
  const { proxy, warnings } = newProxy(t);
  proxy.applySecrets([certSecret('kubernetes://mysql-credential', leaf)]);
  assert.deepEqual(
    warnings.filter((w) => /expire/.test(w)),
    [],
  );
  assert.equal(await metric(proxy, 'envoy_server_days_until_first_cert_expiring'), 29);
});
