// Every resource the control plane's model generates for the seed's four proxies (the golden files of
// test/model/) is accepted by the proxy: listeners and clusters compile, endpoints and secrets validate.
// (Secrets: the golden files hold digests, not PEM, so only their shape is checked.)
// Listeners are compiled, not bound, so the fixed ports of the seed (15001, 15006, 13306, ...) stay free.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { CompiledListener } from '../../src/proxy/listener-compile.js';
import { ClusterRuntime, systemResolver, validateAssignment } from '../../src/proxy/cluster.js';
import { SecretStore } from '../../src/proxy/secrets.js';
import type { ProxyResources } from '../../src/envoy/envoy-types.js';
import { repoRoot } from '../repo-root.js';

const goldenDir = path.join(repoRoot(), 'test', 'model', 'golden');
const files = existsSync(goldenDir) ? readdirSync(goldenDir).filter((f) => f.endsWith('.json')) : [];

test('the golden files exist', () => {
  assert.ok(files.length >= 4, `expected the seed's four proxies in ${goldenDir}, found ${files.join(', ')}`);
});

for (const f of files) {
  test(`the proxy accepts every resource generated for ${f}`, () => {
    const r = JSON.parse(readFileSync(path.join(goldenDir, f), 'utf8')) as ProxyResources;
    const secrets = new SecretStore();
    const deps = {
      secrets,
      resolver: systemResolver,
      random: Math.random,
      now: Date.now,
      log: () => undefined,
      onEjected: () => undefined,
    };
    for (const c of r.clusters ?? []) new ClusterRuntime(c, deps).close();
    for (const l of r.listeners ?? []) new CompiledListener(l, undefined);
    for (const e of r.endpoints ?? []) validateAssignment(e);
    // Golden files show secret bytes as digests, so only the secrets' names and shape can be checked here.
    for (const s of r.secrets ?? []) assert.ok(s.name && (s.tlsCertificate || s.validationContext), `secret ${s.name} has material`);
  });
}
