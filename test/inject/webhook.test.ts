// The injection webhook over real HTTPS with real AdmissionReviews: the v1 contract (uid echoed,
// allowed, JSONPatch, base64), Istio's opt-in/opt-out precedence, no second injection, and the
// serving certificate from the mesh CA for the istiod Service's name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import jsonpatch from 'fast-json-patch';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startControlPlane } from '../../src/controlplane/control-plane.js';
import { jsonLogger } from '../../src/shared/log.js';
import { MeshCA } from '../../src/pki/mesh-ca.js';
import { startInjectionWebhook } from '../../src/inject/webhook-server.js';
import type { Container, Pod } from '../../src/inject/pod.js';
import { clientPod, postReview, review, SETTINGS } from './injection-fixture.js';

const NAMESPACES: Record<string, Record<string, string>> = {
  default: { 'istio-injection': 'enabled' },
  off: { 'istio-injection': 'disabled' },
  plain: {},
};

async function webhook(t: { after(fn: () => Promise<void>): void }, namespaceLabels?: (ns: string) => Record<string, string> | undefined) {
  const ca = await MeshCA.createSelfSigned({ trustDomain: 'cluster-a.local' });
  const w = await startInjectionWebhook({
    listen: '127.0.0.1:0',
    ca,
    dnsNames: ['istiod.istio-system.svc'],
    settings: SETTINGS,
    ...(namespaceLabels ? { namespaceLabels } : {}),
  });
  t.after(() => w.close());
  return { ca, address: w.address, root: ca.rootBundlePem() };
}

function applyResponse(pod: Pod, response: Record<string, unknown>): Pod {
  assert.equal(response.patchType, 'JSONPatch');
  const ops = JSON.parse(Buffer.from(response.patch as string, 'base64').toString('utf8')) as jsonpatch.Operation[];
  return jsonpatch.applyPatch(structuredClone(pod), ops, true, false).newDocument;
}

test('a Pod in an istio-injection=enabled namespace gets istio-init, istio-proxy, the volumes, the status annotation and labels', async (t) => {
  const { address, root } = await webhook(t, (ns) => NAMESPACES[ns]);
  const pod = clientPod();
  const { status, json } = await postReview(address, root, review(pod, 'uid-1'));
  assert.equal(status, 200);
  assert.equal(json.apiVersion, 'admission.k8s.io/v1');
  assert.equal(json.kind, 'AdmissionReview');
  const response = json.response as Record<string, unknown>;
  assert.equal(response.uid, 'uid-1', 'request.uid echoed');
  assert.equal(response.allowed, true);
  const out = applyResponse(pod, response);

  const init = out.spec.initContainers!.at(-1)!;
  assert.equal(init.name, 'istio-init');
  assert.deepEqual(init.command, ['meshgate', 'capture', '--proxy-uid', '1337', '--proxy-gid', '1337', '--inbound-ports', '*']);
  assert.deepEqual(init.securityContext, {
    allowPrivilegeEscalation: false,
    capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    privileged: false,
    readOnlyRootFilesystem: false,
    runAsGroup: 0,
    runAsNonRoot: false,
    runAsUser: 0,
  });
  assert.deepEqual(
    out.spec.containers.map((c: Container) => c.name),
    ['mysql-client', 'istio-proxy'],
  );
  const proxy = out.spec.containers[1]!;
  assert.deepEqual(proxy.command, ['meshgate', 'proxy', '--from-env', '--write-bootstrap', '/etc/istio/proxy/bootstrap.json']);
  assert.equal(proxy.image, 'meshgate:0.1.0');
  assert.deepEqual(
    {
      u: proxy.securityContext!.runAsUser,
      g: proxy.securityContext!.runAsGroup,
      nonRoot: proxy.securityContext!.runAsNonRoot,
      ro: proxy.securityContext!.readOnlyRootFilesystem,
    },
    { u: 1337, g: 1337, nonRoot: true, ro: true },
  );
  const env = Object.fromEntries(
    (proxy.env as { name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }[]).map((e) => [
      e.name,
      e.value ?? `fieldRef:${e.valueFrom!.fieldRef.fieldPath}`,
    ]),
  );
  assert.deepEqual(
    {
      n: env.POD_NAME,
      ns: env.POD_NAMESPACE,
      ip: env.INSTANCE_IP,
      sa: env.SERVICE_ACCOUNT,
      d: env.DISCOVERY_ADDRESS,
      td: env.TRUST_DOMAIN,
      c: env.ISTIO_META_CLUSTER_ID,
    },
    {
      n: 'fieldRef:metadata.name',
      ns: 'fieldRef:metadata.namespace',
      ip: 'fieldRef:status.podIP',
      sa: 'fieldRef:spec.serviceAccountName',
      d: 'istiod.istio-system.svc:15012',
      td: 'cluster-a.local',
      c: 'cluster-a',
    },
  );
  const volumes = Object.fromEntries(out.spec.volumes!.map((v) => [v.name, v]));
  assert.deepEqual(volumes['istio-token'], {
    name: 'istio-token',
    projected: { sources: [{ serviceAccountToken: { audience: 'istio-ca', expirationSeconds: 43200, path: 'istio-token' } }] },
  });
  assert.deepEqual(volumes['istiod-ca-cert'], { name: 'istiod-ca-cert', configMap: { name: 'istio-ca-root-cert' } });
  assert.deepEqual(volumes['istio-envoy'], { name: 'istio-envoy', emptyDir: { medium: 'Memory' } });
  assert.ok(volumes['kube-api-access-7xq2p'], "the pod's own volumes stay");
  assert.deepEqual(JSON.parse(out.metadata.annotations!['sidecar.istio.io/status']!), {
    initContainers: ['istio-init'],
    containers: ['istio-proxy'],
    volumes: ['istio-envoy', 'istio-token', 'istiod-ca-cert'],
    imagePullSecrets: null,
    revision: 'default',
  });
  assert.deepEqual(
    {
      tls: out.metadata.labels!['security.istio.io/tlsMode'],
      name: out.metadata.labels!['service.istio.io/canonical-name'],
      rev: out.metadata.labels!['service.istio.io/canonical-revision'],
      app: out.metadata.labels!.app,
    },
    { tls: 'istio', name: 'mysql-client', rev: 'latest', app: 'mysql-client' },
  );
});

test('opt-outs and non-opt-ins are allowed with no patch: pod annotation or label "false", namespace disabled or unlabelled', async (t) => {
  const { address, root } = await webhook(t, (ns) => NAMESPACES[ns]);
  const cases: [string, Pod, string][] = [];
  const annotated = clientPod();
  annotated.metadata.annotations = { 'sidecar.istio.io/inject': 'false' };
  cases.push(['annotation false', annotated, 'default']);
  const labelled = clientPod();
  labelled.metadata.labels!['sidecar.istio.io/inject'] = 'false';
  cases.push(['label false', labelled, 'default']);
  // The pod's label wins over its annotation (Istio reads the label first).
  const labelOverAnnotation = clientPod();
  labelOverAnnotation.metadata.labels!['sidecar.istio.io/inject'] = 'false';
  labelOverAnnotation.metadata.annotations = { 'sidecar.istio.io/inject': 'true' };
  cases.push(['label false over annotation true', labelOverAnnotation, 'default']);
  const podTrueNsDisabled = clientPod();
  podTrueNsDisabled.metadata.labels!['sidecar.istio.io/inject'] = 'true';
  cases.push(['namespace disabled beats pod true', podTrueNsDisabled, 'off']);
  cases.push(['unlabelled namespace, pod silent', clientPod(), 'plain']);
  const host = clientPod();
  host.spec.hostNetwork = true;
  cases.push(['host network', host, 'default']);
  for (const [what, pod, ns] of cases) {
    const { status, json } = await postReview(address, root, review(pod, `uid-${what}`, { namespace: ns }));
    assert.equal(status, 200, what);
    assert.deepEqual(json.response, { uid: `uid-${what}`, allowed: true }, what);
  }
  const optIn = clientPod();
  optIn.metadata.labels!['sidecar.istio.io/inject'] = 'true';
  const { json } = await postReview(address, root, review(optIn, 'uid-opt-in', { namespace: 'plain' }));
  assert.equal(
    (json.response as { patchType?: string }).patchType,
    'JSONPatch',
    'sidecar.istio.io/inject=true opts a pod in where the namespace is silent',
  );
});

test('an injected Pod sent again is not injected twice', async (t) => {
  const { address, root } = await webhook(t);
  const pod = clientPod();
  const first = await postReview(address, root, review(pod, 'uid-a'));
  const injected = applyResponse(pod, first.json.response as Record<string, unknown>);
  const again = await postReview(address, root, review(injected, 'uid-b'));
  assert.deepEqual(again.json.response, { uid: 'uid-b', allowed: true });
});

test("the webhook certificate is the mesh CA's for the istiod Service name; another root or name is refused", async (t) => {
  const { address, root } = await webhook(t);
  const other = await MeshCA.createSelfSigned({ trustDomain: 'cluster-b.local' });
  await assert.rejects(postReview(address, other.rootBundlePem(), review(clientPod())), /self.signed|unable to verify|certificate/i);
  await assert.rejects(postReview(address, root, review(clientPod()), { servername: 'evil.example' }), /altnames|does not match|Hostname/i);
});

test('bad requests: not a review 400, wrong path 404, wrong content type 415; non-Pod resources allowed unchanged', async (t) => {
  const { address, root } = await webhook(t);
  assert.equal((await postReview(address, root, '{"kind":"Pod"}')).status, 400);
  assert.equal((await postReview(address, root, 'not json')).status, 400);
  assert.equal(
    (await postReview(address, root, { apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'x' } })).status,
    400,
  );
  assert.equal((await postReview(address, root, review(clientPod()), { path: '/mutate' })).status, 404);
  assert.equal((await postReview(address, root, review(clientPod()), { contentType: 'text/plain' })).status, 415);
  const svc = await postReview(
    address,
    root,
    review({ metadata: { name: 'x' }, spec: { ports: [] } }, 'uid-svc', { resource: { group: '', version: 'v1', resource: 'services' } }),
  );
  assert.deepEqual(svc.json.response, { uid: 'uid-svc', allowed: true });
  const broken = await postReview(address, root, review({ metadata: {}, spec: {} }, 'uid-broken'));
  assert.equal((broken.json.response as { allowed: boolean }).allowed, false, 'a Pod that cannot be read is refused, as Istio does');
});

test('the control plane serves the webhook with its mesh root, for istiod in its system namespace, injecting its trust domain and cluster', async (t) => {
  const work = await mkdtemp(path.join(tmpdir(), 'mg-cp-webhook-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  await mkdir(path.join(work, 'config'));
  const cp = await startControlPlane({
    configDir: path.join(work, 'config'),
    clusterId: 'cluster-a',
    trustDomain: 'cluster-a.local',
    listen: '127.0.0.1:0',
    httpListen: '127.0.0.1:0',
    stateDir: path.join(work, 'state'),
    tokenPublicKeyFiles: [],
    tokenIssuer: 'x',
    logger: jsonLogger({ scope: 'cp', write: () => undefined }),
    injectionWebhook: { listen: '127.0.0.1:0', image: 'registry.example/meshgate:1', systemNamespace: 'mesh', revision: 'canary' },
  });
  t.after(() => cp.close());
  assert.ok(cp.injectionWebhookAddress);
  const pod = clientPod();
  const { json } = await postReview(cp.injectionWebhookAddress, cp.rootCertPem, review(pod), { servername: 'istiod.mesh.svc' });
  const out = applyResponse(pod, json.response as Record<string, unknown>);
  const proxy = out.spec.containers.find((c: Container) => c.name === 'istio-proxy')!;
  const env = Object.fromEntries((proxy.env as { name: string; value?: string }[]).map((e) => [e.name, e.value]));
  assert.deepEqual(
    { image: proxy.image, d: env.DISCOVERY_ADDRESS, td: env.TRUST_DOMAIN, c: env.ISTIO_META_CLUSTER_ID },
    { image: 'registry.example/meshgate:1', d: 'istiod.mesh.svc:15012', td: 'cluster-a.local', c: 'cluster-a' },
  );
  assert.equal(JSON.parse(out.metadata.annotations!['sidecar.istio.io/status']!).revision, 'canary');
});
