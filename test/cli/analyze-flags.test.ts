// `meshgate analyze`'s istioctl flags through the real command: --output-threshold, --suppress
// (istioctl's "CODE=Kind name.namespace" with "*"), -n/--namespace, -A, -L, and the shared -o error.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { isSuppressed, parseSuppression, resourceName } from '../../src/analyze/message-filter.js';
import { meshgateCli, writeFile } from './cli-helpers.js';

// Two namespaces: shop has an Error (IST0101, unknown gateway), a Warning (MG0012, http routes)
// and a Warning for the gateway's hosts (IST0132); bank has a Warning (IST0174, a DestinationRule for no host).
const CONFIG = [
  'apiVersion: networking.istio.io/v1',
  'kind: VirtualService',
  'metadata: {name: web, namespace: shop}',
  'spec:',
  '  hosts: [db.example]',
  '  gateways: [nowhere]',
  '  http:',
  '  - route: [{destination: {host: db.example}}]',
  '---',
  'apiVersion: networking.istio.io/v1',
  'kind: ServiceEntry',
  'metadata: {name: db, namespace: shop}',
  'spec:',
  '  hosts: [db.example]',
  '  addresses: [240.0.0.1]',
  '  ports: [{number: 3306, name: tcp, protocol: TCP}]',
  '  resolution: STATIC',
  '  endpoints: [{address: 10.0.0.1}]',
  '---',
  'apiVersion: networking.istio.io/v1',
  'kind: DestinationRule',
  'metadata: {name: ledger, namespace: bank}',
  'spec:',
  '  host: ledger.example',
  '',
].join('\n');

function fixture(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshgate-analyze-flags-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return writeFile(dir, 'config.yaml', CONFIG);
}

const codes = (stdout: string): string[] => [...stdout.matchAll(/\[(\w+)\] \((\w+) (\S+)\)/g)].map((m) => `${m[1]} ${m[3]}`);

test('without flags every namespace is reported and an Error exits 79', async (t) => {
  const f = fixture(t);
  const r = await meshgateCli(['analyze', '-f', f]);
  assert.equal(r.code, 79, r.stderr);
  assert.deepEqual(codes(r.stdout), ['IST0101 shop/web', 'IST0132 shop/web', 'MG0012 shop/web', 'IST0174 bank/ledger']);
});

test('--output-threshold hides lower levels but an Error still sets the exit code; a bad level fails clearly', async (t) => {
  const f = fixture(t);
  const errorsOnly = await meshgateCli(['analyze', '-f', f, '--output-threshold', 'Error']);
  assert.equal(errorsOnly.code, 79);
  assert.deepEqual(codes(errorsOnly.stdout), ['IST0101 shop/web']);
  const warning = await meshgateCli(['analyze', '-f', f, '--output-threshold', 'warning']);
  assert.deepEqual(
    codes(warning.stdout),
    ['IST0101 shop/web', 'IST0132 shop/web', 'MG0012 shop/web', 'IST0174 bank/ledger'],
    'levels are case-insensitive, as istioctl',
  );
  const bad = await meshgateCli(['analyze', '-f', f, '--output-threshold', 'Severe']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /\[E_CLI_USAGE\] --output-threshold "Severe" is not a level: use one of Info, Warning, Error/);
  assert.equal(bad.stdout, '');
});

test('--suppress takes istioctl\'s CODE=Kind name.namespace, repeatable, with "*"; suppressing the Error clears the exit code', async (t) => {
  const f = fixture(t);
  const one = await meshgateCli(['analyze', '-f', f, '--suppress', 'IST0101=VirtualService web.shop']);
  assert.equal(one.code, 0, 'the only Error is suppressed');
  assert.deepEqual(codes(one.stdout), ['IST0132 shop/web', 'MG0012 shop/web', 'IST0174 bank/ledger']);
  const wild = await meshgateCli(['analyze', '-f', f, '-S', 'MG*=* *.shop', '--suppress', 'IST0174=DestinationRule ledger.*']);
  assert.deepEqual(codes(wild.stdout), ['IST0101 shop/web', 'IST0132 shop/web']);
  const other = await meshgateCli(['analyze', '-f', f, '--suppress', 'IST0101=VirtualService web.bank']);
  assert.equal(other.code, 79, 'a suppression for another namespace suppresses nothing');
  for (const bad of ['IST0101', 'IST0101=web.shop', '=VirtualService web.shop']) {
    const r = await meshgateCli(['analyze', '-f', f, '--suppress', bad]);
    assert.equal(r.code, 1, bad);
    assert.match(r.stderr, /\[E_CLI_USAGE\] --suppress ".*" is not CODE=Kind name\[\.namespace\]/, bad);
  }
  const unknown = await meshgateCli(['analyze', '-f', f, '--suppress', 'NOPE1=VirtualService web.shop']);
  assert.equal(unknown.code, 79, 'an unknown code is only a warning, as istioctl');
  assert.match(unknown.stderr, /Warning: --suppress code "NOPE1" is not an IST or MG code/);
});

test('-n reports one namespace; -A reports all and overrides -n', async (t) => {
  const f = fixture(t);
  const bank = await meshgateCli(['analyze', '-f', f, '-n', 'bank']);
  assert.equal(bank.code, 0, 'the Error is in shop, not reported for bank');
  assert.deepEqual(codes(bank.stdout), ['IST0174 bank/ledger']);
  const empty = await meshgateCli(['analyze', '-f', f, '--namespace', 'payments']);
  assert.equal(empty.code, 0);
  assert.match(empty.stdout, /✔ No validation issues found when analyzing .* \(namespace: payments\)\./);
  const all = await meshgateCli(['analyze', '-f', f, '-n', 'bank', '-A']);
  assert.equal(all.code, 79);
  assert.deepEqual(codes(all.stdout), ['IST0101 shop/web', 'IST0132 shop/web', 'MG0012 shop/web', 'IST0174 bank/ledger']);
});

test('-L lists every analyzer with what it checks, without needing files', async () => {
  const r = await meshgateCli(['analyze', '-L']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Available analyzers:\n/);
  assert.match(r.stdout, /\t\* virtualservice\.GatewayAnalyzer: each gateway a VirtualService names exists/);
  assert.equal(r.stdout.trim().split('\n').length, 15, 'a header and fourteen analyzers');
  assert.deepEqual(await meshgateCli(['analyze', '--list-analyzers']), r);
});

test('-o json keeps the threshold and suppressions; an unsupported -o fails with the shared message', async (t) => {
  const f = fixture(t);
  const j = await meshgateCli(['analyze', '-f', f, '-o', 'json', '--output-threshold', 'Error']);
  assert.deepEqual(
    (JSON.parse(j.stdout) as { code: string }[]).map((d) => d.code),
    ['IST0101'],
  );
  for (const [cmd, fmt] of [
    ['analyze', 'wide'],
    ['validate', 'wide'],
    ['analyze', 'table'],
    ['validate', 'human'],
  ] as const) {
    const r = await meshgateCli([cmd, '-f', f, '-o', fmt]);
    assert.equal(r.code, 1, `${cmd} -o ${fmt}`);
    assert.match(
      r.stderr,
      new RegExp(`\\[E_CLI_USAGE\\] (unsupported|unknown) output format "${fmt}" for "meshgate ${cmd}": use one of short, json, yaml`),
    );
  }
});

test("istioctl's resource names and glob matching for suppressions", () => {
  assert.equal(resourceName('DestinationRule/default/primary-dr'), 'DestinationRule primary-dr.default');
  assert.equal(resourceName('Namespace//shop'), 'Namespace shop');
  const s = [parseSuppression('IST0102=DestinationRule *.default')];
  assert.equal(isSuppressed({ level: 'Error', code: 'IST0102', message: '', object: 'DestinationRule/default/a' }, s), true);
  assert.equal(
    isSuppressed({ level: 'Error', code: 'IST0102', message: '', object: 'DestinationRule/defaults/a' }, s),
    false,
    '"*.default" is not a prefix match on the namespace',
  );
  assert.equal(isSuppressed({ level: 'Error', code: 'IST0101', message: '', object: 'DestinationRule/default/a' }, s), false);
  assert.equal(isSuppressed({ level: 'Error', code: 'IST0102', message: '' }, s), false, 'a finding tied to no object is never suppressed');
});
