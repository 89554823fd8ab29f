// DNS capture in the netns lab (root): the unmodified client resolves mysql.fqdn.example through its
// sidecar's DNS proxy (the answer is the ServiceEntry's auto-allocated 240.240.x.x VIP from NDS, which
// the cluster DNS server does not know), connects to the VIP, the sidecar's 0.0.0.0_3306 listener takes
// the connection, and the query returns its row; the egress gateway (no DNS capture) resolves the same
// name through the cluster DNS server to cluster B's ingress gateway on the WAN. `lab down` leaves no
// DNS server behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { netnsModeAvailable } from '../../src/lab/netns-topology.js';
import { pidAlive } from '../../src/lab/child-exit.js';
import { builtCli, clientSql, eventually, exampleLab } from './e2e-helpers.js';

const netns = netnsModeAvailable();
const skip = builtCli() || (netns.ok ? false : netns.reason);

function resolveIn(ns: string, name: string): string[] {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'getent', 'ahostsv4', name], { encoding: 'utf8', timeout: 30_000 });
  return [
    ...new Set(
      (r.stdout ?? '')
        .split('\n')
        .map((l) => l.split(/\s+/)[0]!)
        .filter((a) => a !== ''),
    ),
  ];
}

test(
  'netns lab: the client resolves through its sidecar DNS proxy (NDS VIP), gateways through the cluster DNS',
  { skip, timeout: 240_000 },
  async (t) => {
    const lab = await exampleLab(t, 'netns');
    assert.equal(lab.dnsCapture, true);
    const client = lab.clientTarget!;
    const sidecar = lab.proxies.find((p) => p.cluster === client.cluster && p.name === client.workload)!;
    const egress = lab.proxies.find((p) => p.cluster === client.cluster && p.gateway === 'egress')!;
    const ingressB = lab.proxies.find((p) => p.cluster !== client.cluster && p.gateway === 'ingress')!;
    for (const c of lab.clusters) assert.ok(c.dns && pidAlive(c.dns.pid), `${c.name} has a cluster DNS server`);

    assert.doesNotMatch(
      readFileSync(`/etc/netns/${client.netns}/hosts`, 'utf8'),
      /mysql\.fqdn\.example/,
      'the name is not in the hosts file',
    );
    assert.match(
      readFileSync(`/etc/netns/${client.netns}/resolv.conf`, 'utf8'),
      new RegExp(`^nameserver ${lab.clusters[0]!.dns!.address.replace(/\./g, '\\.')}$`, 'm'),
    );

    const [vip, ...more] = resolveIn(client.netns!, 'mysql.fqdn.example');
    assert.match(vip ?? '', /^240\.240\.\d+\.\d+$/, `the client gets the auto-allocated VIP from its sidecar's DNS proxy (got ${vip})`);
    assert.deepEqual(more, []);
    const gatewayView = resolveIn(egress.netns!, 'mysql.fqdn.example');
    const wan = spawnSync('ip', ['-n', ingressB.netns!, '-4', '-o', 'addr', 'show', 'dev', 'eth1'], { encoding: 'utf8' }).stdout.match(
      /inet (\S+)\//,
    )?.[1];
    assert.ok(wan, 'the ingress gateway has a WAN address');
    assert.deepEqual(gatewayView, [wan], 'the egress gateway resolves through the cluster DNS to the ingress gateway on the WAN');
    // A name nobody knows fails (the sidecar forwards it to the cluster DNS, which has no upstream).
    assert.deepEqual(resolveIn(client.netns!, 'nothing.invalid'), []);

    const before = readFileSync(sidecar.accessLog, 'utf8').length;
    const r = await clientSql(lab, ['SELECT 40 + 2 AS answer'], 60_000);
    assert.equal(r.code, 0, `the query through the mesh failed: ${r.err}`);
    assert.match(r.out, /\b42\b/);
    const entry = await eventually('the client sidecar logs the connection', 10_000, async () => {
      const lines = readFileSync(sidecar.accessLog, 'utf8')
        .slice(before)
        .split('\n')
        .filter((l) => l.trim() !== '');
      return lines
        .map((l) => JSON.parse(l) as { listener: string; downstream_local_address: string; upstream_cluster: string })
        .find((e) => e.downstream_local_address.startsWith('240.240.'));
    });
    assert.equal(entry.downstream_local_address, `${vip}:3306`, 'the client connected to the VIP its sidecar answered');
    assert.equal(entry.listener, '0.0.0.0_3306');
    assert.match(entry.upstream_cluster, /istio-egressgateway/);

    const dnsPids = lab.clusters.map((c) => c.dns!.pid);
    await lab.down();
    for (const pid of dnsPids) assert.equal(pidAlive(pid), false, `cluster DNS pid ${pid} is gone`);
    assert.equal(existsSync(`/etc/netns/${client.netns}`), false);
  },
);
