import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadLabFile } from '../../src/lab/lab-file.js';
import { planLab } from '../../src/lab/lab-plan.js';
import {
  clusterPaths,
  loopbackSidecarObject,
  podObject,
  prepareCluster,
  readSecretsFolder,
  writeClusterSecrets,
} from '../../src/lab/cluster-runtime.js';
import { certsFromAdmin, sumMetric } from '../../src/lab/verify.js';
import { repoRoot } from '../repo-root.js';

const lab = loadLabFile(path.join(repoRoot(), 'examples/mysql-cross-cluster'));

test('a pod object carries what the control plane needs: podIP, labels, service account, sidecar status', () => {
  const plan = planLab(lab, 'netns', 'mgabc123');
  const mysql = plan.pods.find((p) => p.name === 'mysql')!;
  const o = podObject(mysql) as {
    metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
    spec: { serviceAccountName: string; containers: { ports: { containerPort: number }[] }[] };
    status: { podIP: string };
  };
  assert.deepEqual(o.metadata.labels, { app: 'mysql' });
  assert.equal(o.spec.serviceAccountName, 'mysql');
  assert.equal(o.status.podIP, '198.18.2.10');
  assert.deepEqual(o.spec.containers[0]!.ports, [{ containerPort: 3306 }]);
  assert.ok(o.metadata.annotations?.['sidecar.istio.io/status']);
  const gw = podObject(plan.pods.find((p) => p.gateway === 'ingress')!) as {
    metadata: { namespace: string; labels: Record<string, string> };
  };
  assert.equal(gw.metadata.namespace, 'istio-system');
  assert.equal(gw.metadata.labels.istio, 'ingressgateway');
});

test('loopback mode tells the sidecar where the application listens with a Sidecar defaultEndpoint', () => {
  const plan = planLab(lab, 'loopback', 'mgabc123');
  const mysql = plan.pods.find((p) => p.name === 'mysql')!;
  const s = loopbackSidecarObject(mysql, new Map([[3306, 41234]])) as {
    spec: { workloadSelector: { labels: Record<string, string> }; ingress: { port: { number: number }; defaultEndpoint: string }[] };
  };
  assert.deepEqual(s.spec.workloadSelector.labels, { app: 'mysql' });
  assert.deepEqual(
    s.spec.ingress.map((i) => [i.port.number, i.defaultEndpoint]),
    [[3306, '127.0.0.1:41234']],
  );
});

test("a cluster's folder holds the user's config, the pods, its Secrets and a token key; a missing Secret is named", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-lab-rt-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const plan = planLab(lab, 'loopback', 'mgabc123');
  const b = plan.clusters[1]!;
  const { paths } = await prepareCluster(lab, plan, b, dir, new Map([['cluster-b/default/mysql', new Map([[3306, 41234]])]]));
  assert.equal(paths.configDir, clusterPaths(dir, b).configDir);
  assert.ok(existsSync(path.join(paths.configDir, 'user-0-cluster-b', 'gateway.yaml')), 'the seed YAML is copied unchanged');
  assert.equal(
    readFileSync(path.join(paths.configDir, 'user-0-cluster-b', 'gateway.yaml'), 'utf8'),
    readFileSync(path.join(lab.dir, 'cluster-b', 'gateway.yaml'), 'utf8'),
  );
  const pods = parseAllDocuments(readFileSync(path.join(paths.configDir, 'lab-pods.yaml'), 'utf8')).map(
    (d) => (d.toJS() as { metadata: { name: string } }).metadata.name,
  );
  assert.deepEqual(pods, ['istio-ingressgateway', 'istio-egressgateway', 'mysql']);
  assert.match(readFileSync(paths.tokenPublicKeyFile, 'utf8'), /BEGIN PUBLIC KEY/);
  assert.ok(existsSync(path.join(paths.configDir, 'lab-sidecars.yaml')));

  const out = path.join(dir, 'creds');
  mkdirSync(out);
  writeFileSync(
    path.join(out, 'mysql-credential.yaml'),
    'apiVersion: v1\nkind: Secret\nmetadata: { name: mysql-credential, namespace: istio-system }\nstringData: { tls.crt: x, tls.key: y }\n',
  );
  const secrets = readSecretsFolder(out);
  assert.deepEqual([...secrets.keys()], ['mysql-credential']);
  writeClusterSecrets(paths, lab.clusters[1]!, secrets);
  assert.match(readFileSync(path.join(paths.configDir, 'lab-secrets', 'mysql-credential.yaml'), 'utf8'), /name: mysql-credential/);
  assert.throws(
    () => writeClusterSecrets(paths, lab.clusters[0]!, secrets),
    /needs Secret "client-credential", which the credentials script did not produce/,
  );
});

test('verify reads certificates from /certs in Envoy-like shapes and sums Prometheus counters', () => {
  const certs = certsFromAdmin({
    certificates: [
      {
        cert_chain: [{ serial_number: '00AB12', subject_alt_names: [{ uri: 'spiffe://a/ns/x/sa/y' }], issuer: 'CN=mesh CA A' }],
        ca_cert: [{ serial_number: '01', subject: 'CN=root' }],
      },
    ],
  });
  assert.deepEqual(certs[0], { serial: 'ab12', issuer: 'CN=mesh CA A', sans: ['spiffe://a/ns/x/sa/y'] });
  assert.equal(certs.length, 2);
  const text =
    '# HELP istio_tcp_sent_bytes_total x\nistio_tcp_sent_bytes_total{a="1"} 10\nistio_tcp_sent_bytes_total{a="2"} 5\nistio_tcp_sent_bytes_total_other 99\n';
  assert.equal(sumMetric(text, 'istio_tcp_sent_bytes_total'), 15);
});
