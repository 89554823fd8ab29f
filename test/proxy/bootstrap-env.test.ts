// `meshgate proxy --from-env`: the bootstrap built from an injected pod's environment, and the errors
// that name the variable missing or wrong.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrapFromEnv } from '../../src/proxy/bootstrap-env.js';
import { runProxy } from '../../src/cli/proxy.js';

const ENV = {
  POD_NAME: 'mysql-client-6d4b9c8f7-x2x7q',
  POD_NAMESPACE: 'default',
  INSTANCE_IP: '10.244.1.7',
  SERVICE_ACCOUNT: 'mysql-client',
  DISCOVERY_ADDRESS: 'istiod.istio-system.svc:15012',
  TRUST_DOMAIN: 'cluster-a.local',
  ISTIO_META_CLUSTER_ID: 'cluster-a',
  ISTIO_METAJSON_LABELS: '{"app":"mysql-client","security.istio.io/tlsMode":"istio"}',
  ISTIO_META_POD_PORTS: '[{"containerPort":3306,"protocol":"TCP"},{"containerPort":53,"protocol":"UDP"}]',
};

test("the pod environment gives the node, the control plane, Istio's file paths and probe ports on the pod IP", () => {
  const b = bootstrapFromEnv(ENV);
  assert.equal(b.node.id, 'sidecar~10.244.1.7~mysql-client-6d4b9c8f7-x2x7q.default~default.svc.cluster.local');
  assert.deepEqual(
    {
      sa: b.node.serviceAccount,
      labels: b.node.labels,
      cluster: b.node.clusterId,
      ports: b.node.workloadPorts,
      mode: b.node.interceptionMode,
    },
    {
      sa: 'mysql-client',
      labels: { app: 'mysql-client', 'security.istio.io/tlsMode': 'istio' },
      cluster: 'cluster-a',
      ports: [3306],
      mode: 'REDIRECT',
    },
  );
  assert.deepEqual(
    { d: b.discoveryAddress, td: b.trustDomain, token: b.tokenFile, root: b.rootCertFile, probe: b.probeAddress, admin: b.admin },
    {
      d: 'istiod.istio-system.svc:15012',
      td: 'cluster-a.local',
      token: '/var/run/secrets/tokens/istio-token',
      root: '/var/run/secrets/istio/root-cert.pem',
      probe: '10.244.1.7',
      admin: { address: '127.0.0.1', port: 15000 },
    },
  );
  const gw = bootstrapFromEnv(ENV, 'router');
  assert.equal(gw.node.role, 'router');
  assert.equal(gw.node.interceptionMode, 'REDIRECT', "a gateway binds 0.0.0.0 as Istio's");
  assert.equal(
    bootstrapFromEnv({ ...ENV, ISTIO_META_INTERCEPTION_MODE: 'NONE' }, 'router').node.interceptionMode,
    'NONE',
    'an explicit mode is kept',
  );
  assert.throws(() => bootstrapFromEnv({ ...ENV, ISTIO_META_INTERCEPTION_MODE: 'TPROXY' }), { message: /must be REDIRECT or NONE/ });
});

test('a missing or malformed variable is named', async () => {
  const { POD_NAME: _p, ...noName } = ENV;
  assert.throws(() => bootstrapFromEnv(noName), { code: 'E_BOOTSTRAP_INVALID', message: /POD_NAME: required/ });
  assert.throws(() => bootstrapFromEnv({ ...ENV, INSTANCE_IP: 'pod-ip' }), {
    code: 'E_BOOTSTRAP_INVALID',
    message: /INSTANCE_IP: "pod-ip" is not an IP address/,
  });
  assert.throws(() => bootstrapFromEnv({ ...ENV, ISTIO_METAJSON_LABELS: '{app' }), { message: /ISTIO_METAJSON_LABELS: not valid JSON/ });
  await assert.rejects(runProxy({}), { code: 'E_CLI_USAGE', message: /exactly one of --bootstrap FILE and --from-env/ });
  await assert.rejects(runProxy({ fromEnv: true, bootstrap: 'x.yaml' }), { code: 'E_CLI_USAGE' });
  await assert.rejects(runProxy({ fromEnv: true, role: 'gateway' }, ENV), {
    code: 'E_CLI_USAGE',
    message: /--role must be sidecar or router/,
  });
});
