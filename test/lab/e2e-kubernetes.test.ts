// End to end with the kubernetes config source (loopback mode): each cluster's config lives in its own
// API-server double, loaded as `kubectl apply` would load the example (Service patches applied), and
// each control plane reads it through informers. lab verify, a refused object, and a Secret rotation
// sent through the API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { verifyLab } from '../../src/lab/verify.js';
import { accessLogSince, builtCli, clientSql, eventually, exampleLab, meshgate, serialOf, sizeOf } from './e2e-helpers.js';

const skip = builtCli();

function apiOf(kubeconfig: string): KubernetesObjectApi {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return KubernetesObjectApi.makeApiClient(kc);
}

async function metric(url: string, name: string, label: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line ? Number(line.split(' ').pop()) : 0;
}

test(
  'kubernetes config source: the seed scenario from API-server doubles, a refused object, a Secret rotated through the API',
  { skip, timeout: 240_000 },
  async (t) => {
    const lab = await exampleLab(t, 'loopback', { configSource: 'kubernetes' });
    const clusterA = lab.clusters.find((c) => c.name === 'cluster-a')!;
    const clusterB = lab.clusters.find((c) => c.name === 'cluster-b')!;
    assert.ok(clusterA.kubeconfig && clusterB.kubeconfig, 'each cluster has its API server');
    const ingressB = lab.proxies.find((p) => p.cluster === 'cluster-b' && p.gateway === 'ingress')!;
    const works = async (): Promise<true | undefined> => ((await clientSql(lab, ['SELECT 1'], 20_000)).code === 0 ? true : undefined);

    await t.test('lab verify passes with config read through informers', async () => {
      const report = await verifyLab(lab);
      assert.equal(report.passed, true, `verify failed:\n  ${report.failures.join('\n  ')}`);
      assert.equal(report.legs.length, 3);
      assert.equal(new Set(report.legs.map((l) => l.client_issuer)).size, 3);
      // The seed's patch reached the API server: the ingress gateway Service has port 13306.
      const svc = (await apiOf(clusterB.kubeconfig!).read({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'istio-ingressgateway', namespace: 'istio-system' },
      })) as KubernetesObject & { spec: { ports: { port: number }[] } };
      assert.ok(
        svc.spec.ports.some((p) => p.port === 13306),
        'the JSON patch was applied before the Service was sent',
      );
    });

    await t.test('an invalid Gateway update is refused and reported (log, metric, Event); the chain keeps working', async () => {
      const api = apiOf(clusterB.kubeconfig!);
      const before = await metric(clusterB.controlPlaneUrl, 'meshgate_config_diagnostics_total', 'level="Error"');
      const gw = (await api.read({
        apiVersion: 'networking.istio.io/v1',
        kind: 'Gateway',
        metadata: { name: 'gateway-mysql', namespace: 'default' },
      })) as KubernetesObject & { spec: { servers: { port: { number: unknown } }[] } };
      gw.spec.servers[0]!.port.number = 'not-a-port';
      await api.replace(gw);
      await eventually('the control plane counts the refusal', 20_000, async () =>
        (await metric(clusterB.controlPlaneUrl, 'meshgate_config_diagnostics_total', 'level="Error"')) > before ? true : undefined,
      );
      const log = readFileSync(path.join(lab.stateDir, 'logs', 'cluster-b_control-plane.log'), 'utf8');
      assert.match(log, /\(Gateway default\/gateway-mysql\) spec\.servers\[0\]\.port\.number/);
      const events = await api.list('v1', 'Event', 'default');
      assert.ok(
        events.items.some(
          (e) =>
            (e as unknown as { reason: string; involvedObject: { name: string } }).reason === 'ConfigRejected' &&
            (e as unknown as { involvedObject: { name: string } }).involvedObject.name === 'gateway-mysql',
        ),
        'a Warning Event on the Gateway',
      );
      await eventually('queries still work on the last good Gateway', 30_000, works);
    });

    await t.test('a gateway Secret rotated through the API reaches the egress gateway: new handshakes present the new serial', async () => {
      const creds = lab.credentialsDir!;
      const oldSerial = serialOf(path.join(creds, 'client-credential/cert.pem'));
      meshgate([
        'ca',
        'rotate',
        '--ca',
        path.join(creds, 'root-ca'),
        '--from',
        path.join(creds, 'client-credential'),
        '--out',
        path.join(creds, 'client-credential-k8s'),
      ]);
      const newSerial = serialOf(path.join(creds, 'client-credential-k8s/cert.pem'));
      assert.notEqual(newSerial, oldSerial);
      const secret = parse(
        meshgate([
          'ca',
          'secret',
          '--name',
          'client-credential',
          '--namespace',
          'istio-system',
          '--cert',
          path.join(creds, 'client-credential-k8s/cert.pem'),
          '--key',
          path.join(creds, 'client-credential-k8s/key.pem'),
          '--cacert',
          path.join(creds, 'client-credential-k8s/ca.pem'),
        ]),
      ) as KubernetesObject;
      const api = apiOf(clusterA.kubeconfig!);
      const cur = await api.read({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'client-credential', namespace: 'istio-system' } });
      const offset = sizeOf(ingressB.accessLog);
      await api.replace({ ...secret, metadata: { ...secret.metadata, resourceVersion: cur.metadata?.resourceVersion } });
      await eventually('the ingress gateway sees the new serial', 40_000, async () => {
        await clientSql(lab, ['SELECT 1'], 20_000);
        return accessLogSince(ingressB.accessLog, offset).some(
          (e) =>
            String(e.downstream_peer_serial ?? '')
              .toLowerCase()
              .replace(/^0+/, '') === newSerial,
        )
          ? true
          : undefined;
      });
      await eventually('queries work with the rotated credential', 30_000, works);
    });
  },
);
