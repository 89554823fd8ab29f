// The injected Pod run for real, as a kubelet would: the seed's client Pod goes through the injection
// webhook of a real `meshgate control-plane` process; the patch applied gives an init container whose
// command installs capture in a network namespace this test creates, and a proxy container whose
// command, run as its securityContext says (uid/gid 1337) with its volumes mounted where the Pod says
// (a projected token minted for the CA's audience, the mesh root from istio-ca-root-cert, an emptyDir),
// connects through that capture to the control plane and becomes ready on the probe the Pod declares.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import jsonpatch from 'fast-json-patch';
import { TokenIssuer } from '../../src/pki/workload-token.js';
import { findExecutable } from '../../src/capture/command.js';
import type { Container, Pod } from '../../src/inject/pod.js';
import { createNetns, linkNamespaces, netnsSkipReason, sh } from '../capture/netns-harness.js';
import { repoRoot } from '../repo-root.js';
import { clientPod, review } from './injection-fixture.js';

const CP_IP = '198.18.250.1';
const POD_IP = '198.18.250.2';
const ISSUER = 'https://kubernetes.default.svc.cluster.local';

function skipReason(): string | undefined {
  const r = netnsSkipReason();
  if (r) return r;
  for (const tool of ['unshare', 'setpriv', 'mount'])
    if (!findExecutable(tool)) return `${tool} is not installed (Debian: util-linux, mount)`;
  if (!existsSync(path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js'))) return 'dist/src/cli/main.js is not built';
  // The container sees the checkout as the image's /app (bound below); the checkout folder itself must
  // let others in, as the image's does (its parents need not: a 0700 home is fine).
  if ((statSync(repoRoot()).mode & 0o005) !== 0o005)
    return `the checkout ${repoRoot()} is not readable by others (the proxy runs as uid 1337, as in the image)`;
  return undefined;
}

/** Where the container finds the image's files: the checkout bound under the container's own /run. */
const IMAGE_ROOT = '/run/meshgate-image';

/** The image's `meshgate` on PATH is this checkout's CLI, as the container sees it (IMAGE_ROOT). */
function meshgate(command: string[], root = repoRoot()): string[] {
  assert.equal(command[0], 'meshgate', `the container runs the meshgate executable, got ${command[0]}`);
  return [process.execPath, path.join(root, 'dist', 'src', 'cli', 'main.js'), ...command.slice(1)];
}

/** A container's environment as the kubelet resolves it (values and the downward API fieldRefs). */
function containerEnv(pod: Pod, c: Container): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of c.env as { name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }[]) {
    if (e.value !== undefined) out[e.name] = e.value;
    else {
      const v = e.valueFrom!.fieldRef.fieldPath.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], pod);
      assert.equal(typeof v, 'string', `fieldRef ${e.valueFrom!.fieldRef.fieldPath}`);
      out[e.name] = v as string;
    }
  }
  return out;
}

function waitFor(cond: () => boolean, ms: number, what: string, detail: () => string): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) return resolve();
      if (Date.now() > end) return reject(new Error(`timed out waiting for ${what}: ${detail()}`));
      setTimeout(tick, 200);
    };
    tick();
  });
}

function started(undo: (() => void)[], argv: string[], opts: { env?: NodeJS.ProcessEnv } = {}): { child: ChildProcess; log: () => string } {
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    ...(opts.env ? { env: opts.env } : {}),
  });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  undo.push(() => {
    // The process group: ip netns exec, unshare and setpriv exec in place, so the group is the process's.
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  });
  return { child, log: () => log };
}

/** Runs node code inside a namespace and returns what it printed (the probe and the API server's POST). */
function nodeIn(ns: string, code: string, input?: string): string {
  return sh('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', code], input);
}

test(
  'the injected mysql-client Pod: its init command installs capture and its proxy command connects and becomes ready',
  { skip: skipReason(), timeout: 120_000 },
  async (t) => {
    // node:test runs after-hooks in the order they were added, and the namespaces' hooks delete them:
    // processes and capture must go first, so they are undone here, newest first, before those hooks.
    const undo: (() => void)[] = [];
    t.after(() => {
      for (const f of undo.reverse()) f();
    });
    const dir = mkdtempSync(path.join(tmpdir(), 'mg-inject-pod-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const cpNs = createNetns(t, 'cp');
    const podNs = createNetns(t, 'pod');
    linkNamespaces(cpNs, `${CP_IP}/24`, podNs, `${POD_IP}/24`);

    // The control plane, with the webhook, the way the install's Deployment runs it.
    const tokens = await TokenIssuer.create(ISSUER);
    writeFileSync(path.join(dir, 'token-signer.pub'), tokens.publicKeyPem());
    const cp = started(undo, [
      'ip',
      'netns',
      'exec',
      cpNs,
      ...meshgate([
        'meshgate',
        'control-plane',
        '--config',
        path.join(repoRoot(), 'examples', 'mysql-cross-cluster', 'cluster-a'),
        '--cluster-id',
        'cluster-a',
        '--trust-domain',
        'cluster-a.local',
        '--listen',
        `${CP_IP}:15012`,
        '--http-listen',
        '127.0.0.1:15014',
        '--token-public-key',
        path.join(dir, 'token-signer.pub'),
        '--state-dir',
        path.join(dir, 'cp'),
        '--injection-webhook-listen',
        '127.0.0.1:15017',
        '--injection-image',
        'meshgate:0.1.0',
      ]),
    ]);
    await waitFor(() => /control plane serving/.test(cp.log()), 30_000, 'the control plane', cp.log);
    const rootPem = readFileSync(path.join(dir, 'cp', 'root-cert.pem'), 'utf8');

    // The API server's call: an AdmissionReview over HTTPS, verified with the caBundle (the mesh root).
    writeFileSync(path.join(dir, 'ca-bundle.pem'), rootPem);
    const post = `import https from 'node:https'; import { readFileSync } from 'node:fs';
    const body = readFileSync(0);
    const req = https.request({ host: '127.0.0.1', port: 15017, path: '/inject', method: 'POST', ca: readFileSync(${JSON.stringify(path.join(dir, 'ca-bundle.pem'))}), servername: 'istiod.istio-system.svc', headers: { 'content-type': 'application/json' } }, (res) => { res.pipe(process.stdout); });
    req.end(body);`;
    const original = clientPod();
    const answer = JSON.parse(nodeIn(cpNs, post, JSON.stringify(review(original, 'uid-e2e')))) as {
      response: { uid: string; allowed: boolean; patch: string };
    };
    assert.equal(answer.response.uid, 'uid-e2e');
    assert.equal(answer.response.allowed, true);
    const pod = jsonpatch.applyPatch(
      structuredClone(original),
      JSON.parse(Buffer.from(answer.response.patch, 'base64').toString('utf8')) as jsonpatch.Operation[],
      true,
      false,
    ).newDocument;
    // What the API server and the kubelet then fill in.
    pod.metadata.name = 'mysql-client-6d4b9c8f7-x2x7q';
    pod.status = { podIP: POD_IP };

    // The init container: its command, as root, in the pod's network namespace.
    const init = pod.spec.initContainers!.find((c: Container) => c.name === 'istio-init')!;
    const initArgv = meshgate(init.command!);
    undo.push(() => {
      // Removes the rules and the state file capture recorded (before the namespace goes).
      spawnSync('ip', ['netns', 'exec', podNs, ...initArgv, '--cleanup'], { timeout: 30_000 });
    });
    const capture = spawnSync('ip', ['netns', 'exec', podNs, ...initArgv], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(capture.status, 0, `istio-init failed: ${capture.stderr}`);
    const rules = sh('ip', ['netns', 'exec', podNs, 'iptables-save', '-t', 'nat']);
    assert.match(rules, /-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001/);
    assert.match(rules, /-A ISTIO_OUTPUT .*--uid-owner 1337 -j RETURN/);
    assert.match(rules, /-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006/);

    // The proxy container's volumes as the kubelet lays them out.
    const proxy = pod.spec.containers.find((c: Container) => c.name === 'istio-proxy')!;
    const vols = new Map(pod.spec.volumes!.map((v) => [v.name, v as Record<string, unknown>]));
    const volDir = (name: string): string => {
      const d = path.join(dir, 'volumes', name);
      mkdirSync(d, { recursive: true });
      return d;
    };
    const tokenSource = (vols.get('istio-token')!.projected as { sources: { serviceAccountToken: { audience: string; path: string } }[] })
      .sources[0]!.serviceAccountToken;
    const tokenFile = path.join(volDir('istio-token'), tokenSource.path);
    writeFileSync(
      tokenFile,
      await tokens.mint({
        namespace: pod.metadata.namespace!,
        serviceAccount: pod.spec.serviceAccountName!,
        audience: tokenSource.audience,
        ttlSeconds: 3600,
      }),
    );
    chownSync(tokenFile, 1337, 1337); // the kubelet gives a projected token to the container's runAsUser
    chmodSync(tokenFile, 0o600);
    assert.equal((vols.get('istiod-ca-cert')!.configMap as { name: string }).name, 'istio-ca-root-cert');
    writeFileSync(path.join(volDir('istiod-ca-cert'), 'root-cert.pem'), rootPem); // the ConfigMap's key root-cert.pem
    // The kubelet's modes: an emptyDir is world-writable, the other volume folders readable.
    for (const name of ['istio-token', 'istiod-ca-cert', 'istio-envoy']) chmodSync(volDir(name), name === 'istio-envoy' ? 0o777 : 0o755);
    chmodSync(path.join(dir, 'volumes'), 0o755);
    chmodSync(dir, 0o755);

    // Its own view of the filesystem: /etc overlaid (so mount points can be made and the Service name
    // resolves, as cluster DNS would answer), a fresh /run, the volumes bound where the container mounts them.
    mkdirSync(path.join(dir, 'etc', 'upper'), { recursive: true });
    mkdirSync(path.join(dir, 'etc', 'work'), { recursive: true });
    const discovery = containerEnv(pod, proxy).DISCOVERY_ADDRESS!;
    writeFileSync(
      path.join(dir, 'etc', 'upper', 'hosts'),
      `${readFileSync('/etc/hosts', 'utf8')}\n${CP_IP} ${discovery.slice(0, discovery.lastIndexOf(':'))}\n`,
    );
    const mounts = (proxy.volumeMounts ?? []).map(
      (m) =>
        `mkdir -p '${m.mountPath}' && mount --bind '${path.join(dir, 'volumes', m.name)}' '${m.mountPath}'${m.readOnly ? ` && mount -o remount,bind,ro '${m.mountPath}'` : ''}`,
    );
    const sc = proxy.securityContext as { runAsUser: number; runAsGroup: number };
    const script = [
      'set -e',
      `mount -t overlay overlay -o lowerdir=/etc,upperdir=${dir}/etc/upper,workdir=${dir}/etc/work /etc`,
      'mount -t tmpfs tmpfs /run',
      // The image's files: this checkout, reachable by uid 1337 whatever its parents' modes (a 0700 home).
      `mkdir -p ${IMAGE_ROOT} && mount --bind '${repoRoot()}' ${IMAGE_ROOT}`,
      ...mounts,
      `exec setpriv --reuid=${sc.runAsUser} --regid=${sc.runAsGroup} --clear-groups -- "$@"`,
    ].join('\n');
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOSTNAME: pod.metadata.name, ...containerEnv(pod, proxy) };
    const p = started(
      undo,
      [
        'ip',
        'netns',
        'exec',
        podNs,
        'unshare',
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        script,
        'istio-proxy',
        ...meshgate(proxy.command!, IMAGE_ROOT),
      ],
      { env },
    );

    // The Pod's readiness probe, from outside the pod's namespace as the kubelet's (port 15021 is never captured).
    const probe = proxy.readinessProbe as { httpGet: { path: string; port: number } };
    const probeCode = `const r = await fetch('http://${POD_IP}:${probe.httpGet.port}${probe.httpGet.path}').then((x) => x.status, () => 0); console.log(r);`;
    await waitFor(
      () => (p.child.exitCode === null && nodeIn(cpNs, probeCode).trim() === '200') || p.child.exitCode !== null,
      45_000,
      'the readiness probe to answer 200',
      () => p.log().slice(-2000),
    );
    assert.equal(p.child.exitCode, null, `the proxy exited: ${p.log().slice(-2000)}`);
    // The probe runs synchronously: lines the proxy wrote meanwhile are read once the event loop turns.
    await waitFor(
      () => /running as uid|admin on 127\.0\.0\.1:15000/.test(p.log()),
      10_000,
      'the proxy to log its uid and admin address',
      () => p.log().slice(-2000),
    );
    const syncz = nodeIn(cpNs, "console.log(await (await fetch('http://127.0.0.1:15014/debug/syncz')).text())");
    assert.match(syncz, /mysql-client-6d4b9c8f7-x2x7q/, 'the control plane sees the proxy');
    assert.match(syncz, /spiffe:\/\/cluster-a\.local\/ns\/default\/sa\/mysql-client/, 'with the identity its token proves');
  },
);
