import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadLabFile, LabFileError } from '../../src/lab/lab-file.js';
import { planLab, podKey, loopbackOctetFor } from '../../src/lab/lab-plan.js';
import { repoRoot } from '../repo-root.js';

const fixture = path.join(repoRoot(), 'test/lab/fixtures/two-clusters');

test('loads a lab file from its folder with defaults filled in', () => {
  const lab = loadLabFile(fixture);
  assert.equal(lab.name, 'two-clusters');
  assert.deepEqual(
    lab.clusters.map((c) => c.name),
    ['cluster-a', 'cluster-b'],
  );
  assert.deepEqual(lab.clusters[1]!.config, ['b'], 'a single config folder becomes a list');
  const echo = lab.clusters[1]!.workloads[0]!;
  assert.equal(echo.namespace, 'default');
  assert.equal(echo.sidecar, true);
});

function withLab(t: { after: (fn: () => void) => void }, text: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-labfile-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'lab.yaml'), text);
  return dir;
}

test('names the file, line and field of a schema error', (t) => {
  const dir = withLab(t, 'clusters:\n  - name: a\n    workloads:\n      - name: x\n        sidecar: "yes"\n');
  assert.throws(
    () => loadLabFile(dir),
    (err: unknown) => {
      assert.ok(err instanceof LabFileError);
      assert.equal(err.code, 'E_LAB_FILE');
      assert.equal(err.line, 5);
      assert.equal(err.field, 'clusters.0.workloads.0.sidecar');
      assert.match(err.message, /lab\.yaml:5: clusters\.0\.workloads\.0\.sidecar:/);
      return true;
    },
  );
});

test('refuses unknown fields, dangling references and missing config folders', (t) => {
  assert.throws(() => loadLabFile(withLab(t, 'clusters: [{ name: a, colour: red }]\n')), /colour/);
  assert.throws(
    () => loadLabFile(withLab(t, 'clusters: [{ name: a }]\ndns:\n  x.example: { cluster: b, gateway: ingress }\n')),
    /dns\.x\.example\.cluster: no cluster named "b"/,
  );
  assert.throws(() => loadLabFile(withLab(t, 'clusters: [{ name: a, config: [nowhere] }]\n')), /config path "nowhere" does not exist/);
  assert.throws(
    () => loadLabFile(withLab(t, 'clusters: [{ name: a, workloads: [{ name: db, run: { builtin: mariadb-server } }] }]\n')),
    /needs the port it serves on/,
  );
  assert.throws(() => loadLabFile(withLab(t, 'clusters: [{ name: a }, { name: a }]\n')), /declared twice/);
  assert.throws(() => loadLabFile(withLab(t, 'clusters: [\n')), /lab\.yaml:\d+: invalid YAML/);
});

test('plans gateways and workloads with addresses in the lab ranges only', () => {
  const lab = loadLabFile(fixture);
  const netns = planLab(lab, 'netns', 'mgabc123');
  assert.deepEqual(
    netns.pods.map((p) => `${p.cluster}/${p.namespace}/${p.name} ${p.address} ${p.wanAddress ?? '-'} ${p.netns}`),
    [
      'cluster-a/istio-system/istio-ingressgateway 198.18.1.2 198.19.0.11 mgabc123-1-2',
      'cluster-a/istio-system/istio-egressgateway 198.18.1.3 198.19.0.12 mgabc123-1-3',
      'cluster-a/default/client 198.18.1.10 - mgabc123-1-10',
      'cluster-b/istio-system/istio-ingressgateway 198.18.2.2 198.19.0.21 mgabc123-2-2',
      'cluster-b/istio-system/istio-egressgateway 198.18.2.3 198.19.0.22 mgabc123-2-3',
      'cluster-b/default/echo 198.18.2.10 - mgabc123-2-10',
    ],
  );
  const gw = netns.pods[0]!;
  assert.equal(gw.serviceAccount, 'istio-ingressgateway-service-account');
  assert.deepEqual(gw.labels, { app: 'istio-ingressgateway', istio: 'ingressgateway' });
  // From cluster A the name resolves to B's ingress gateway's WAN address.
  const client = netns.pods.find((p) => p.name === 'client')!;
  assert.match(netns.hosts.get(podKey(client))!, /^198\.19\.0\.21\techo\.fqdn\.example$/m);

  const lo = planLab(lab, 'loopback', 'mgabc123');
  const b = loopbackOctetFor('mgabc123');
  for (const p of lo.pods) assert.match(p.address, new RegExp(`^127\\.${b}\\.[12]\\.\\d+$`));
  // In loopback mode a workload with a sidecar reaches the name through its own sidecar's listener.
  const loClient = lo.pods.find((p) => p.name === 'client')!;
  assert.match(lo.hosts.get(podKey(loClient))!, new RegExp(`^${loClient.address.replace(/\./g, '\\.')}\\techo\\.fqdn\\.example$`, 'm'));
  // ... and a gateway reaches it at B's ingress gateway.
  const egress = lo.pods.find((p) => p.cluster === 'cluster-a' && p.gateway === 'egress')!;
  const ingressB = lo.pods.find((p) => p.cluster === 'cluster-b' && p.gateway === 'ingress')!;
  assert.match(lo.hosts.get(podKey(egress))!, new RegExp(`^${ingressB.address.replace(/\./g, '\\.')}\\techo`, 'm'));
});

test('proxyRuntime: bun is read, absent means node, another runtime is refused with its line and field', (t) => {
  assert.equal(loadLabFile(withLab(t, 'proxyRuntime: bun\nclusters:\n  - name: a\n')).proxyRuntime, 'bun');
  assert.equal(loadLabFile(withLab(t, 'clusters:\n  - name: a\n')).proxyRuntime, undefined);
  assert.throws(
    () => loadLabFile(withLab(t, 'clusters:\n  - name: a\nproxyRuntime: deno\n')),
    (err: unknown) => err instanceof LabFileError && err.line === 3 && err.field === 'proxyRuntime',
  );
});
