// Istio >= 1.10 inbound in a real pod namespace with capture: the sidecar (uid 1337) forwards mesh
// traffic to the address the client dialled — the pod IP — from 127.0.0.6, so an application that
// listens only on the pod IP (not on 127.0.0.1) is reached, and capture does not loop the sidecar's own
// connection back to 15006 (istio-iptables' `-o lo -s 127.0.0.6/32 -j RETURN`).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyCapture, cleanupCapture } from '../../src/capture/iptables.js';
import { originalDstAvailable } from '../../src/capture/original-dst.js';
import { JsonChild, createNetns, fixtureArgv, linkNamespaces, netnsSkipReason, runIn, runInAsync } from '../capture/netns-harness.js';
import { issue, makeCa, spiffe } from './helpers.js';

const skip =
  netnsSkipReason() ??
  (originalDstAvailable() ? undefined : 'the SO_ORIGINAL_DST addon is not built (run `npm ci` or `npx --yes node-gyp rebuild`)');
const PROXY = { uid: 1337, gid: 1337 };
const POD_IP = '198.18.0.1';
const APP_PORT = 8080;

function tempDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A mesh client's connection from `netns`: mTLS with a SPIFFE certificate and Istio's client ALPN; prints what came back. */
async function meshClient(
  netns: string,
  ca: string,
  cert: string,
  key: string,
): Promise<{ data: string; alpn: string | false; serverUri: string }> {
  const script = `
    const tls = require('node:tls');
    const s = tls.connect({ host: ${JSON.stringify(POD_IP)}, port: ${APP_PORT}, ca: ${JSON.stringify(ca)}, cert: ${JSON.stringify(cert)}, key: ${JSON.stringify(key)},
      servername: 'outbound_.${APP_PORT}_._.app.default.svc.cluster.local', ALPNProtocols: ['istio-peer-exchange', 'istio'], checkServerIdentity: () => undefined });
    let data = '';
    s.setEncoding('utf8');
    s.on('data', (d) => { data += d; });
    s.on('end', () => { console.log(JSON.stringify({ data, alpn: s.alpnProtocol, serverUri: s.getPeerX509Certificate()?.subjectAltName ?? '' })); process.exit(0); });
    s.on('error', (e) => { console.log(JSON.stringify({ error: e.message })); process.exit(1); });
    setTimeout(() => { console.log(JSON.stringify({ error: 'timeout', data })); process.exit(1); }, 8000);
  `;
  const r = await runInAsync(netns, [process.execPath, '-e', script]);
  assert.equal(r.status, 0, `mesh client failed: ${r.stdout} ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { data: string; alpn: string | false; serverUri: string };
}

test(
  'netns with capture: an application listening only on the pod IP gets mesh mTLS and plaintext through the sidecar, from 127.0.0.6',
  { skip, timeout: 90_000 },
  async (t) => {
    const podNs = createNetns(t, 'pod');
    const clientNs = createNetns(t, 'cli');
    linkNamespaces(podNs, `${POD_IP}/24`, clientNs, '198.18.0.2/24');
    const state = tempDir(t, 'mg-inbound-state-');
    await applyCapture({}, { netns: podNs, stateDir: state });
    t.after(async () => {
      await cleanupCapture({ netns: podNs, stateDir: state }).catch(() => undefined);
    });

    const ca = await makeCa('mesh-ca');
    const serverId = await issue(ca, { uris: [spiffe('default', 'app')] });
    const clientId = await issue(ca, { uris: [spiffe('client', 'sleep')] });
    const certs = tempDir(t, 'mg-inbound-certs-');
    writeFileSync(path.join(certs, 'cert.pem'), serverId.certPem);
    writeFileSync(path.join(certs, 'key.pem'), serverId.keyPem, { mode: 0o600 });
    writeFileSync(path.join(certs, 'ca.pem'), ca.certPem);

    // The application: on the pod IP only, reporting each connection's source.
    const app = new JsonChild(t, podNs, fixtureArgv('tcp-probe', ['listen', `${POD_IP}:${APP_PORT}`]));
    await app.waitFor((l) => l.event === 'ready');
    const sidecar = new JsonChild(t, podNs, fixtureArgv('../../proxy/fixtures/inbound-pod', [POD_IP, String(APP_PORT), certs]), PROXY);
    const ready = await sidecar.waitFor((l) => l.event === 'ready');
    assert.equal(ready.uid, PROXY.uid, 'the sidecar runs as the proxy user, whose traffic capture would otherwise loop');
    assert.equal((ready.inbound as { type?: string }).type, 'ORIGINAL_DST');

    // 1. Mesh traffic: mTLS terminated by the sidecar with the client's SPIFFE ID, then to POD_IP:8080.
    const mesh = await meshClient(clientNs, ca.certPem, clientId.certPem, clientId.keyPem);
    assert.equal(
      mesh.data,
      `hello from ${POD_IP}:${APP_PORT}\n`,
      `the application did not answer through the sidecar; sidecar: ${JSON.stringify(sidecar.lines)} ${sidecar.stderr}`,
    );
    assert.equal(mesh.alpn, 'istio-peer-exchange', "the inbound chain offers Istio's downstream ALPN");
    assert.match(mesh.serverUri, /spiffe:\/\/cluster\.local\/ns\/default\/sa\/app/);
    const first = await app.waitFor((l) => l.event === 'conn');
    assert.match(String(first.remote), /^127\.0\.0\.6:\d+$/, "the application sees the sidecar's 127.0.0.6");
    const access = await sidecar.waitFor((l) => l.event === 'access' && l.chain === `inbound|${APP_PORT}|mtls`);
    assert.equal(access.peer, spiffe('client', 'sleep'));
    assert.equal(access.cluster, `inbound|${APP_PORT}||`);
    assert.equal(access.host, `${POD_IP}:${APP_PORT}`);
    assert.match(String(access.local), /^127\.0\.0\.6:/);

    // 2. Plaintext (PERMISSIVE) takes the same way.
    const plain = runIn(clientNs, fixtureArgv('tcp-probe', ['connect', POD_IP, String(APP_PORT)]));
    assert.equal(plain.status, 0, plain.stderr);
    assert.equal((JSON.parse(plain.stdout.trim().split('\n').at(-1)!) as { data: string }).data, `hello from ${POD_IP}:${APP_PORT}`);
    await sidecar.waitFor((l) => l.event === 'access' && l.chain === `inbound|${APP_PORT}|plaintext`);
    const conns = (): Record<string, unknown>[] => app.lines.filter((l) => l.event === 'conn');
    await app.waitFor(() => conns().length >= 2);
    assert.deepEqual(
      conns().map((l) => String(l.remote).split(':')[0]),
      ['127.0.0.6', '127.0.0.6'],
      'each client connection reached the application once, from 127.0.0.6 (no capture loop)',
    );
  },
);
