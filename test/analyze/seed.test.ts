// The scenario's done-when: the seed's folders validate; analyze on cluster A without the egress
// Gateway reports it missing (IST0101, and IST0132 for its hosts, as Istio), and stops once examples/ adds it; the egress Service needs the
// 15443 patch (IST0162) and the example has it.
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { analyzePaths } from '../../src/analyze/index.js';
import { defaultMeshConfig } from '../../src/config/default-install.js';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { runAnalyze } from '../../src/cli/analyze.js';
import { runValidate } from '../../src/cli/validate.js';
import { seedDir } from '../config/seed-dir.js';
import { repoRoot } from '../repo-root.js';

const mesh = defaultMeshConfig();
const exampleA = () => path.join(repoRoot(), 'examples/mysql-cross-cluster/cluster-a');
const exampleB = () => path.join(repoRoot(), 'examples/mysql-cross-cluster/cluster-b');

async function lines(dir: string, opts: { defaultInstall?: boolean } = {}): Promise<string[]> {
  const r = await analyzePaths([dir], { mesh, ...opts });
  return r.diagnostics.map(formatDiagnostic);
}

test('the seed client cluster: gateway istio-egressgateway-mysql is not found', async () => {
  const dir = seedDir('client-cluster');
  assert.deepEqual(await lines(dir), [
    `${dir}/destination-rule-originate-mtls.yaml:14:8: Warning [IST0129] (DestinationRule default/originate-mtls-for-mysql) spec.trafficPolicy.portLevelSettings[0].tls.mode: DestinationRule originate-mtls-for-mysql in namespace default has TLS mode set to MUTUAL but no caCertificates are set to validate server identity for host: mysql.fqdn.example at port number:13306`,
    `${dir}/service-entry.yaml:10:6: Warning [IST0134] (ServiceEntry default/mysql-external) spec.ports[0]: ServiceEntry addresses are required for this protocol.`,
    `${dir}/virtual-service.yaml:9:6: Error [IST0101] (VirtualService default/direct-mysql-through-egress-gateway) spec.gateways[0]: Referenced gateway not found: "istio-egressgateway-mysql"`,
    // Istio reports a missing gateway's hosts too (virtualservice/gateways.go checks hosts after existence).
    `${dir}/virtual-service.yaml:9:6: Warning [IST0132] (VirtualService default/direct-mysql-through-egress-gateway) spec.gateways[0]: one or more host [mysql.fqdn.example] defined in VirtualService default/direct-mysql-through-egress-gateway not found in Gateway default/istio-egressgateway-mysql.`,
  ]);
});

test('the example cluster A adds the egress Gateway and the Service patch: no IST0101, no IST0162', async () => {
  const dir = exampleA();
  assert.deepEqual(await lines(dir), [
    `${dir}/destination-rule-originate-mtls.yaml:14:8: Warning [IST0129] (DestinationRule default/originate-mtls-for-mysql) spec.trafficPolicy.portLevelSettings[0].tls.mode: DestinationRule originate-mtls-for-mysql in namespace default has TLS mode set to MUTUAL but no caCertificates are set to validate server identity for host: mysql.fqdn.example at port number:13306`,
    `${dir}/service-entry.yaml:10:6: Warning [IST0134] (ServiceEntry default/mysql-external) spec.ports[0]: ServiceEntry addresses are required for this protocol.`,
  ]);
});

test('without the Service patch, analyze says the default egress Service lacks 15443', async (t) => {
  const tmp = await mkdtemp(path.join(tmpdir(), 'meshgate-cluster-a-'));
  t.after(() => rm(tmp, { recursive: true, force: true }));
  await cp(exampleA(), tmp, {
    recursive: true,
    filter: (src) => !src.endsWith('kustomization.yaml') && !src.endsWith('egressgateway-service-patch.json'),
  });
  assert.ok(
    (await lines(tmp)).includes(
      `${tmp}/egress-gateway.yaml:15:7: Warning [IST0162] (Gateway default/istio-egressgateway-mysql) spec.servers[0].port.number: The gateway is listening on a target port (port 15443) that is not defined in the Service associated with its workload instances (Pod selector istio=egressgateway). If you need to access the gateway port through the gateway Service, it will not be available.`,
    ),
  );
  const without = await lines(tmp, { defaultInstall: false });
  assert.ok(
    without.includes(
      `${tmp}/egress-gateway.yaml:12:5: Error [IST0101] (Gateway default/istio-egressgateway-mysql) spec.selector.istio: Referenced selector not found: "istio=egressgateway"`,
    ),
    without.join('\n'),
  );
});

test('the example cluster B: only the credential the lab generates is missing', async () => {
  const dir = exampleB();
  assert.deepEqual(await lines(dir), [
    `${dir}/gateway.yaml:15:6: Error [IST0101] (Gateway default/gateway-mysql) spec.servers[0].tls.credentialName: Referenced credentialName not found: "mysql-credential"`,
  ]);
});

test('meshgate validate succeeds on both seed folders; analyze exits 79 on errors, as istioctl', async () => {
  const out: string[] = [];
  assert.equal(await runValidate({ files: [seedDir('client-cluster')] }, (s) => out.push(s)), 0);
  assert.equal(await runValidate({ files: [seedDir('server-cluster')] }, (s) => out.push(s)), 0);
  assert.match(out.join(''), /Warning \[MG0006\]/);
  assert.equal(await runAnalyze({ files: [seedDir('client-cluster')] }, () => undefined), 79);
  assert.equal(await runAnalyze({ files: [exampleA()] }, () => undefined), 0);
});

test('validate exits 1 on an error; analyze -o json and -o yaml are machine-readable', async (t) => {
  const tmp = await mkdtemp(path.join(tmpdir(), 'meshgate-cli-'));
  t.after(() => rm(tmp, { recursive: true, force: true }));
  await cp(seedDir('client-cluster'), tmp, { recursive: true });
  const { writeFile } = await import('node:fs/promises');
  await writeFile(path.join(tmp, 'bad.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: x}]\n');
  const human: string[] = [];
  assert.equal(await runValidate({ files: [tmp] }, (s) => human.push(s)), 1);
  assert.deepEqual(human, [
    `${tmp}/bad.yaml:5:18: Error [IST0106] (Service default/s) spec.ports[0].port: expected integer, found string "x"\n`,
  ]);
  let json = '';
  await runAnalyze({ files: [seedDir('client-cluster')], output: 'json' }, (s) => (json += s));
  const recs = JSON.parse(json) as {
    code: string;
    level: string;
    origin: string;
    line: number;
    field: string;
    documentationUrl?: string;
  }[];
  const ist0101 = recs.find((r) => r.code === 'IST0101');
  assert.deepEqual(
    { level: ist0101?.level, origin: ist0101?.origin, line: ist0101?.line, field: ist0101?.field, url: ist0101?.documentationUrl },
    {
      level: 'Error',
      origin: 'VirtualService/default/direct-mysql-through-egress-gateway',
      line: 9,
      field: 'spec.gateways[0]',
      url: 'https://istio.io/latest/docs/reference/config/analysis/ist0101/',
    },
  );
  let yaml = '';
  await runAnalyze({ files: [seedDir('client-cluster')], output: 'yaml' }, (s) => (yaml += s));
  assert.match(yaml, /- code: IST0101\n {2}level: Error\n {2}message: 'Referenced gateway not found: "istio-egressgateway-mysql"'/);
});
