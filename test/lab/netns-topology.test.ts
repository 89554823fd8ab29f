import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadLabFile } from '../../src/lab/lab-file.js';
import { planLab, newLabId } from '../../src/lab/lab-plan.js';
import { LabState } from '../../src/lab/lab-state.js';
import { createNetnsTopology, netnsModeAvailable } from '../../src/lab/netns-topology.js';
import { terminateChild } from '../../src/lab/child-exit.js';
import { repoRoot } from '../repo-root.js';

const avail = netnsModeAvailable();
const skip = avail.ok ? false : avail.reason;

function snapshotHost(): { netns: string; links: string; iptables: string } {
  const out = (cmd: string, args: string[]): string => spawnSync(cmd, args, { encoding: 'utf8' }).stdout ?? '';
  // Counters and comments change on their own; compare the rules only.
  const rules = out('iptables-save', [])
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, ''))
    .join('\n');
  return { netns: out('ip', ['netns', 'list']), links: out('ip', ['-o', 'link', 'show']).replace(/\s+state \S+/g, ''), iptables: rules };
}

/** Tries a TCP connection from one namespace to address:port with bash's /dev/tcp; true when accepted. */
function canConnect(netns: string, address: string, port: number): boolean {
  const r = spawnSync('ip', ['netns', 'exec', netns, 'timeout', '3', 'bash', '-c', `exec 3<>/dev/tcp/${address}/${port}`], {
    encoding: 'utf8',
  });
  return r.status === 0;
}

test(
  'netns topology: pods reach their cluster, only gateways reach the WAN, and teardown leaves the host as it was',
  { skip, timeout: 120_000 },
  async (t) => {
    const before = snapshotHost();
    const lab = loadLabFile(path.join(repoRoot(), 'test/lab/fixtures/two-clusters'));
    const plan = planLab(lab, 'netns', newLabId());
    const stateDir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-lab-topo-'));
    const state = LabState.create(stateDir, { labId: plan.labId, mode: 'netns', labFile: lab.file, ownerPid: process.pid });
    t.after(async () => {
      await state.teardown();
      rmSync(stateDir, { recursive: true, force: true });
    });
    createNetnsTopology(plan, state);

    const ingressB = plan.pods.find((p) => p.cluster === 'cluster-b' && p.gateway === 'ingress')!;
    const egressA = plan.pods.find((p) => p.cluster === 'cluster-a' && p.gateway === 'egress')!;
    const client = plan.pods.find((p) => p.name === 'client')!;
    // A listener on B's ingress gateway, on both of its addresses.
    const listener = spawn('ip', ['netns', 'exec', ingressB.netns!, 'socat', 'TCP-LISTEN:7000,fork,reuseaddr', 'SYSTEM:true'], {
      stdio: 'ignore',
    });
    t.after(() => terminateChild(listener, 3_000));
    const egressListener = spawn('ip', ['netns', 'exec', egressA.netns!, 'socat', 'TCP-LISTEN:7001,fork,reuseaddr', 'SYSTEM:true'], {
      stdio: 'ignore',
    });
    t.after(() => terminateChild(egressListener, 3_000));
    let ready = false;
    for (let i = 0; i < 50 && !ready; i++) {
      ready = canConnect(egressA.netns!, ingressB.wanAddress!, 7000);
      if (!ready) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(ready, "cluster A's egress gateway reaches B's ingress gateway over the WAN");
    assert.ok(canConnect(client.netns!, egressA.address, 7001), 'the client pod reaches its egress gateway on the cluster network');
    assert.equal(canConnect(client.netns!, ingressB.wanAddress!, 7000), false, 'the client pod cannot reach the WAN directly');
    assert.equal(canConnect(client.netns!, ingressB.address, 7000), false, "the client pod cannot reach cluster B's network");
    // The lab's DNS names, through /etc/netns/NS/hosts.
    const resolved = spawnSync('ip', ['netns', 'exec', client.netns!, 'getent', 'hosts', 'echo.fqdn.example'], { encoding: 'utf8' });
    assert.match(resolved.stdout, new RegExp(`^${ingressB.wanAddress!.replace(/\./g, '\\.')}\\s+echo\\.fqdn\\.example`));

    await terminateChild(listener, 3_000);
    await terminateChild(egressListener, 3_000);
    await state.teardown();
    assert.deepEqual(state.value.resources, [], 'every recorded resource is removed');
    for (const p of plan.pods) assert.equal(existsSync(`/etc/netns/${p.netns}`), false);
    const after = snapshotHost();
    assert.equal(after.netns, before.netns, 'ip netns list is as before');
    assert.equal(after.iptables, before.iptables, 'iptables-save is as before');
    // Other engineers may add or remove host links meanwhile; ours must simply not be there.
    for (const line of after.links.split('\n')) assert.doesNotMatch(line, new RegExp(plan.labId));
  },
);
