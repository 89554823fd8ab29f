// What `proxy-status POD` prints: a unified diff that `patch` would accept, and a comparison that says
// "Match" only when the proxy holds exactly what the control plane sent — and never prints a secret.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { compareProxyConfig, formatComparison, type ControlPlaneDump, type ProxyDump } from '../../src/cli/config-compare.js';
import { unifiedDiff } from '../../src/cli/unified-diff.js';
import { TypeUrl } from '../../src/envoy/envoy-types.js';

test('equal texts have no diff; a changed line gives a hunk with three lines of context', () => {
  assert.equal(unifiedDiff('a\nb\n', 'a\nb\n', 'x', 'y'), '');
  const a = ['1', '2', '3', '4', '5', '6', '7', '8', '9', ''].join('\n');
  const b = ['1', '2', '3', '4', 'five', '6', '7', '8', '9', ''].join('\n');
  assert.equal(
    unifiedDiff(a, b, 'Control plane Clusters', 'Proxy Clusters'),
    ['--- Control plane Clusters', '+++ Proxy Clusters', '@@ -2,7 +2,7 @@', ' 2', ' 3', ' 4', '-5', '+five', ' 6', ' 7', ' 8', ''].join(
      '\n',
    ),
  );
});

test('the diff is one that patch(1) applies to turn the first text into the second', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshgate-diff-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const a = Array.from({ length: 60 }, (_, i) => `line ${i}`);
  const b = [...a];
  b.splice(5, 2, 'new five');
  b.splice(30, 0, 'inserted', 'inserted again');
  b.splice(55, 3);
  const from = `${a.join('\n')}\n`;
  const to = `${b.join('\n')}\n`;
  writeFileSync(path.join(dir, 'f'), from);
  const diff = unifiedDiff(from, to, 'f', 'f');
  assert.equal((diff.match(/^@@/gm) ?? []).length, 3, diff);
  const r = spawnSync('patch', [path.join(dir, 'f')], { input: diff, encoding: 'utf8' });
  if (r.error) return t.skip(`patch is not installed: ${r.error.message}`);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.equal(readFileSync(path.join(dir, 'f'), 'utf8'), to);
});

const cluster = {
  name: 'outbound|3306||db.example',
  type: 'STRICT_DNS',
  connectTimeout: '10s',
  loadAssignment: { clusterName: 'outbound|3306||db.example', endpoints: [] },
};
const listener = { name: '0.0.0.0_3306', address: { socketAddress: { address: '0.0.0.0', portValue: 3306 } } };
const key = '-----BEGIN PRIVATE KEY-----\nTHIS-MUST-NEVER-BE-PRINTED\n-----END PRIVATE KEY-----\n';

function dumps(heldCluster: object): { cp: ControlPlaneDump; proxy: ProxyDump } {
  const cp: ControlPlaneDump = {
    resources: {
      cds: [cluster],
      lds: [listener],
      eds: [],
      sds: [{ name: 'kubernetes://cred', tlsCertificate: { privateKey: { inlineString: key } } }],
    },
  };
  const proxy: ProxyDump = {
    configs: [
      // What the proxy keeps is the protobuf round trip: defaults such as an empty endpoint list are gone.
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
        dynamicActiveClusters: [{ versionInfo: 'v1', cluster: { '@type': TypeUrl.Cluster, ...heldCluster } }],
      },
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
        dynamicListeners: [{ name: listener.name, activeState: { listener: { '@type': TypeUrl.Listener, ...listener } } }],
      },
      { '@type': 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump', dynamicEndpointConfigs: [] },
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump',
        dynamicActiveSecrets: [
          { name: 'default', versionInfo: 'local', secret: {} },
          { name: 'kubernetes://cred', versionInfo: 'v1', secret: { tlsCertificate: { privateKey: { inlineString: key } } } },
        ],
      },
    ],
  };
  return { cp, proxy };
}

test('a proxy holding what was sent matches on every type, after the protobuf round trip', () => {
  const { cp, proxy } = dumps({
    name: cluster.name,
    type: 'STRICT_DNS',
    connectTimeout: '10s',
    loadAssignment: { clusterName: cluster.name },
  });
  assert.equal(formatComparison(compareProxyConfig(cp, proxy)), 'Clusters Match\nListeners Match\nEndpoints Match\nSecrets Match\n');
});

test('a proxy holding something else: "Clusters Don\'t Match" and a diff naming the field; secrets by name only', () => {
  const { cp, proxy } = dumps({
    name: cluster.name,
    type: 'STRICT_DNS',
    connectTimeout: '5s',
    loadAssignment: { clusterName: cluster.name },
  });
  (proxy.configs[3]!.dynamicActiveSecrets as unknown[]).pop();
  const out = formatComparison(compareProxyConfig(cp, proxy));
  assert.match(out, /^Clusters Don't Match\n--- Control plane Clusters\n\+\+\+ Proxy Clusters\n@@ /);
  assert.match(out, /^- {4}"connectTimeout": "10s",$/m);
  assert.match(out, /^\+ {4}"connectTimeout": "5s",$/m);
  assert.match(out, /\nListeners Match\nEndpoints Match\nSecrets Don't Match\n/);
  assert.match(out, /^- {4}"name": "kubernetes:\/\/cred"$/m);
  assert.ok(!out.includes('THIS-MUST-NEVER-BE-PRINTED'), 'no key material in the comparison');
});
