import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { defaultInstallObjects, defaultMeshConfig } from '../../src/config/default-install.js';
import { startControlPlane } from '../../src/controlplane/control-plane.js';
import { startApiServerDouble } from '../../src/kube/apiserver-double/server.js';
import { applyObjects, folderObjects } from '../../src/kube/apply-folder.js';
import { writeKubeconfig } from '../../src/kube/kubeconfig.js';
import { silentLogger } from '../../src/shared/log.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = path.join(root, 'dist/src/cli/main.js');

function run(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { timeout: 30_000 }, (err, _stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
}

test('control-plane takes exactly one config source: --config, or --kubeconfig / --config-source kubernetes', async () => {
  let r = await run(['control-plane', '--cluster-id', 'x']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /give --config DIR, or --kubeconfig FILE/);
  r = await run(['control-plane', '--cluster-id', 'x', '--config', '.', '--kubeconfig', 'kc']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /exclude each other/);
  r = await run(['control-plane', '--cluster-id', 'x', '--config-source', 'etcd']);
  assert.match(r.stderr, /--config-source must be directory or kubernetes/);
});

test('a control plane on --kubeconfig serves the seed applied to the API server, the Service patch included, and counts its lists', async (t) => {
  const d = await startApiServerDouble({ token: 'cp-token' });
  const dir = await mkdtemp(path.join(tmpdir(), 'meshgate-cp-kube-'));
  t.after(async () => {
    await d.close();
    await rm(dir, { recursive: true, force: true });
  });
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeKubeconfig(kubeconfig, { server: d.url, caPem: d.caPem, token: d.token });
  const objects = await folderObjects(
    path.join(root, 'examples/mysql-cross-cluster/cluster-b'),
    defaultInstallObjects(defaultMeshConfig()),
  );
  await applyObjects(kubeconfig, objects);
  const cp = await startControlPlane({
    kubeconfig,
    clusterId: 'cluster-b',
    trustDomain: 'cluster.local',
    stateDir: path.join(dir, 'state'),
    tokenPublicKeyFiles: [],
    tokenIssuer: 'x',
    listen: '127.0.0.1:0',
    httpListen: '127.0.0.1:0',
    logger: silentLogger,
  });
  t.after(() => cp.close());
  const snap = cp.store.snapshot();
  assert.deepEqual(
    snap.gateways.map((g) => `${g.metadata.namespace}/${g.metadata.name}`),
    ['default/gateway-mysql'],
  );
  const ingress = snap.services.find((s) => s.metadata.name === 'istio-ingressgateway')!;
  assert.ok(
    ingress.spec.ports?.some((p) => p.port === 13306 && p.name === 'tls-mysql'),
    'the seed patch reached the Service',
  );
  assert.equal(
    snap.services.filter((s) => s.metadata.name === 'istio-ingressgateway').length,
    1,
    'the install objects come from the API server alone',
  );
  const metrics = await (await fetch(`http://${cp.httpAddress}/metrics`)).text();
  assert.match(metrics, /meshgate_kube_lists_total\{path="\/apis\/networking.istio.io\/v1\/gateways"\} 1/);
  assert.equal((await fetch(`http://${cp.httpAddress}/ready`)).status, 200);
});
