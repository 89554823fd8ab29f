// DNS capture end to end in a pod namespace this test creates: the pod's resolv.conf points at its
// "cluster resolver" (127.0.0.53, the test's own server), the capture rules send port 53 to the DNS
// proxy (running as UID 1337 on 127.0.0.1:15053), and unmodified programs — glibc's getent and curl —
// resolve mesh names from the name table and everything else through the resolver.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyCapture, cleanupCapture, detectIptables, iptablesSave } from '../../src/capture/iptables.js';
import { canonicalRuleset } from '../../src/capture/iptables-save.js';
import { findExecutable } from '../../src/capture/command.js';
import { originalDstAvailable } from '../../src/capture/original-dst.js';
import { JsonChild, createNetns, fixtureArgv, linkNamespaces, netnsSkipReason, runIn, sh } from './netns-harness.js';

const skip = netnsSkipReason() ?? (findExecutable('getent') ? undefined : 'getent is not installed (libc-bin)');
const PROXY = { uid: 1337, gid: 1337 };
const TABLE = { table: { 'mysql.fqdn.example': { ips: ['240.240.0.1'], registry: 'External' } } };

/** /etc/netns/NAME/resolv.conf, which `ip netns exec NAME` mounts over /etc/resolv.conf; removed after the test. */
function podResolvConf(t: TestContext, netns: string, text: string): void {
  const createdRoot = !existsSync('/etc/netns');
  const dir = path.join('/etc/netns', netns);
  mkdirSync(dir, { recursive: true });
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
    if (createdRoot && existsSync('/etc/netns') && readdirSync('/etc/netns').length === 0) rmdirSync('/etc/netns');
  });
  writeFileSync(path.join(dir, 'resolv.conf'), text);
}

function getent(netns: string, name: string): { status: number | null; addresses: string[] } {
  const r = runIn(netns, ['getent', 'ahostsv4', name]);
  return {
    status: r.status,
    addresses: [
      ...new Set(
        r.stdout
          .split('\n')
          .map((l) => l.split(/\s+/)[0])
          .filter((x): x is string => !!x),
      ),
    ],
  };
}

test('unmodified clients resolve mesh names through the captured DNS proxy and reach them through the sidecar', { skip }, async (t) => {
  const a = createNetns(t, 'dns');
  const b = createNetns(t, 'dnsb');
  linkNamespaces(a, '198.18.0.1/24', b, '198.18.0.2/24');
  sh('ip', ['-n', a, 'route', 'add', 'default', 'via', '198.18.0.2']);
  podResolvConf(t, a, 'nameserver 127.0.0.53\noptions timeout:2 attempts:1\n');
  const stateDir = mkdtempSync(path.join(tmpdir(), 'mg-capture-state-'));
  t.after(() => rmSync(stateDir, { recursive: true, force: true }));

  const upstream = new JsonChild(t, a, fixtureArgv('dns-upstream', ['127.0.0.53', '53']));
  await upstream.waitFor((l) => l.event === 'ready');

  // Without capture the cluster resolver knows nothing of the mesh name.
  assert.notEqual(getent(a, 'mysql.fqdn.example').status, 0, 'the mesh name must not resolve before capture');
  assert.deepEqual(getent(a, 'example.org').addresses, ['192.0.2.10']);

  const tools = await detectIptables(4, { netns: a });
  const before = await iptablesSave(tools, { netns: a });
  // Istio's sidecar default: capture DNS to the resolvers in resolv.conf.
  await applyCapture({ dns: true, dnsServers: ['127.0.0.53'] }, { netns: a, stateDir });
  t.after(async () => {
    // Safety net for a failed assertion; a no-op after the cleanup below.
    await cleanupCapture({ netns: a, stateDir }).catch(() => undefined);
  });
  const dns = new JsonChild(t, a, fixtureArgv('dns-proxy-child', ['127.0.0.1:15053', '127.0.0.53:53', JSON.stringify(TABLE)]), PROXY);
  await dns.waitFor((l) => l.event === 'ready');

  // UDP: the mesh name from the table, other names through the proxy to the resolver.
  assert.deepEqual(getent(a, 'mysql.fqdn.example').addresses, ['240.240.0.1']);
  assert.deepEqual(getent(a, 'example.org').addresses, ['192.0.2.10']);
  await dns.waitFor((l) => l.message === 'answered from the name table' && l.proto === 'udp' && l.name === 'mysql.fqdn.example');

  // TCP (glibc's use-vc): captured the same way.
  podResolvConf(t, a, 'nameserver 127.0.0.53\noptions use-vc timeout:2 attempts:1\n');
  assert.deepEqual(getent(a, 'mysql.fqdn.example').addresses, ['240.240.0.1']);
  await dns.waitFor((l) => l.message === 'answered from the name table' && l.proto === 'tcp');

  // The whole path: curl resolves the mesh name and connects; capture takes the connection to the
  // sidecar's outbound listener, which sees the VIP the name resolved to.
  if (findExecutable('curl') && originalDstAvailable()) {
    const sidecar = new JsonChild(t, a, fixtureArgv('tcp-probe', ['listen', '0.0.0.0:15001']), PROXY);
    await sidecar.waitFor((l) => l.event === 'ready');
    const curl = runIn(a, ['curl', '--http0.9', '-s', '--max-time', '5', 'http://mysql.fqdn.example:3306/']);
    assert.equal(curl.stdout.trim(), 'hello from 0.0.0.0:15001', `curl: ${curl.status} ${curl.stderr}`);
    const conn = await sidecar.waitFor((l) => l.event === 'conn');
    assert.deepEqual(conn.original, { address: '240.240.0.1', port: 3306 });
  } else {
    t.diagnostic('curl or the SO_ORIGINAL_DST addon is missing: the connection step was not run');
  }

  await cleanupCapture({ netns: a, stateDir });
  const after = await iptablesSave(tools, { netns: a });
  const exact = tools.backend === 'nft' && findExecutable('nft') !== undefined;
  assert.equal(canonicalRuleset(after, { ignoreEmptyTables: !exact }), canonicalRuleset(before, { ignoreEmptyTables: !exact }));
  assert.notEqual(getent(a, 'mysql.fqdn.example').status, 0, 'after cleanup the mesh name is no longer answered');
});
