// End to end in netns mode (root): namespaces, bridges, the WAN, iptables capture in the pods, the
// unmodified `mariadb` client against mysql.fqdn.example:3306; then `lab down` leaves the host as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { verifyLab } from '../../src/lab/verify.js';
import { netnsModeAvailable } from '../../src/lab/netns-topology.js';
import { pidAlive } from '../../src/lab/child-exit.js';
import { runProxyConfig } from '../../src/cli/proxy-config.js';
import type { RunningLab } from '../../src/lab/lab.js';
import { builtCli, exampleLab, tenThousandRows } from './e2e-helpers.js';

const netns = netnsModeAvailable();
const skip = builtCli() || (netns.ok ? false : netns.reason);

function hostSnapshot(): { netns: string; iptables: string } {
  const out = (cmd: string, args: string[]): string => spawnSync(cmd, args, { encoding: 'utf8' }).stdout ?? '';
  const rules = out('iptables-save', [])
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, ''))
    .join('\n');
  return { netns: out('ip', ['netns', 'list']), iptables: rules };
}

/** From inside `netns`: the HTTP status of GET url, or the connection error's code. */
function probeFrom(netns: string, url: string): string {
  const script = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(3000) }).then((r) => console.log(r.status), (e) => console.log(e.cause?.code ?? e.name))`;
  return spawnSync('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { encoding: 'utf8', timeout: 20_000 }).stdout.trim();
}

/**
 * Admin ports and the control plane's /debug are loopback-only inside their namespaces: another pod
 * cannot reach them, the host reaches them through the lab's relays, and no key is printed there.
 */
async function adminOnlyThroughRelays(lab: RunningLab): Promise<void> {
  const egress = lab.proxies.find((p) => p.gateway === 'egress')!;
  const neighbour = lab.proxies.find((p) => p.cluster === egress.cluster && p.gateway === 'ingress')!;
  const controlPlane = `${egress.address.slice(0, egress.address.lastIndexOf('.'))}.1`;
  assert.equal(
    probeFrom(neighbour.netns!, `http://${egress.address}:15000/config_dump`),
    'ECONNREFUSED',
    "another pod cannot reach the egress gateway's admin",
  );
  assert.equal(probeFrom(neighbour.netns!, `http://${egress.address}:15021/healthz/ready`), '200', 'readiness stays on the pod IP');
  assert.equal(
    probeFrom(neighbour.netns!, `http://${controlPlane}:15014/ready`),
    'ECONNREFUSED',
    "a pod cannot reach the control plane's /debug",
  );
  let printed = '';
  assert.equal(await runProxyConfig('all', egress.adminUrl, 'json', (s) => (printed += s)), 0, 'proxy-config through the relay');
  assert.match(printed, /kubernetes:\/\/client-credential/);
  assert.doesNotMatch(printed, /PRIVATE KEY/);
  const cp = lab.clusters.find((c) => c.name === egress.cluster)!;
  const syncz = (await (await fetch(`${cp.controlPlaneUrl}/debug/syncz`)).json()) as { proxies: { proxy: string; name: string }[] };
  const id = syncz.proxies.find((p) => p.name === `${egress.name}.${egress.namespace}`)!.proxy;
  const dump = await (await fetch(`${cp.controlPlaneUrl}/debug/config_dump?proxyID=${encodeURIComponent(id)}`)).text();
  assert.match(dump, /kubernetes:\/\/client-credential/);
  assert.doesNotMatch(dump, /PRIVATE KEY/);
  assert.doesNotMatch(dump, /LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t|LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t/, 'no key as base64 PEM either');
}

test('netns lab: 10,000 rows with the unmodified client, lab verify, and a clean lab down', { skip, timeout: 240_000 }, async (t) => {
  const before = hostSnapshot();
  const lab = await exampleLab(t, 'netns');
  assert.equal(lab.mode, 'netns');
  assert.ok(lab.clientTarget?.netns, 'the client runs in its own namespace');
  assert.equal(lab.clientTarget?.host, 'mysql.fqdn.example');
  await tenThousandRows(lab);
  const report = await verifyLab(lab);
  assert.equal(report.passed, true, `verify failed:\n  ${report.failures.join('\n  ')}`);
  assert.ok(report.wire_check.links_watched >= 8, `every veth on the bridges is watched (${report.wire_check.links.join(', ')})`);
  assert.equal(report.legs.length, 3);
  await adminOnlyThroughRelays(lab);

  const pids = [
    ...lab.proxies.map((p) => p.pid),
    ...lab.workloads.flatMap((w) => (w.pid ? [w.pid] : [])),
    ...lab.clusters.flatMap((c) => (c.controlPlanePid ? [c.controlPlanePid] : [])),
  ];
  await lab.down();
  for (const pid of pids) assert.equal(pidAlive(pid), false, `pid ${pid} is gone`);
  const after = hostSnapshot();
  // Only this lab's namespaces count: other tests running beside this one create and remove their own.
  assert.deepEqual(
    after.netns.split('\n').filter((l) => l.includes(lab.labId)),
    [],
    'no namespace of the lab left',
  );
  assert.equal(after.iptables, before.iptables, 'no iptables rule left on the host');
  assert.equal(
    spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout.includes(lab.labId),
    false,
    'no link of the lab on the host',
  );
  for (const w of lab.workloads)
    if (w.socketPath) assert.equal(existsSync(path.dirname(w.socketPath)), false, "the database's temp dir is removed");
  assert.equal(existsSync(path.join(lab.stateDir, 'pods')), false, 'the state dir holds nothing the lab wrote');
  for (const p of lab.proxies) if (p.netns) assert.equal(existsSync(`/etc/netns/${p.netns}`), false);
});
