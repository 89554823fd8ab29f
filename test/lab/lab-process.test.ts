import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { loadLabFile } from '../../src/lab/lab-file.js';
import { planLab, newLabId } from '../../src/lab/lab-plan.js';
import { LabState } from '../../src/lab/lab-state.js';
import { createNetnsTopology, netnsModeAvailable } from '../../src/lab/netns-topology.js';
import { startAdminRelay } from '../../src/lab/admin-relays.js';
import { privateHostsAvailable, startLabProcess } from '../../src/lab/lab-process.js';
import { pidAlive } from '../../src/lab/child-exit.js';
import { repoRoot } from '../repo-root.js';

const netns = netnsModeAvailable();

function tempState(t: { after: (fn: () => Promise<void> | void) => void }, labId: string): { state: LabState; dir: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-lab-proc-'));
  const state = LabState.create(dir, { labId, mode: 'loopback', labFile: 'test', ownerPid: process.pid });
  t.after(async () => {
    await state.teardown();
    rmSync(dir, { recursive: true, force: true });
  });
  return { state, dir };
}

test('a recorded process is stopped by teardown, by its pid and start time', { timeout: 30_000 }, async (t) => {
  const { state, dir } = tempState(t, newLabId());
  const p = await startLabProcess(state, path.join(dir, 'logs'), { name: 'sleeper', argv: ['sleep', '300'] });
  const rec = state.value.resources.find((r) => r.kind === 'process');
  assert.ok(rec && rec.kind === 'process' && rec.pid === p.pid && rec.startTime !== '', 'recorded with its start time');
  assert.ok(pidAlive(p.pid));
  await state.teardown();
  assert.equal(pidAlive(p.pid), false);
  assert.deepEqual(state.value.resources, []);
});

test(
  'loopback mode gives a process its own /etc/hosts without touching the host',
  { skip: privateHostsAvailable() ? false : 'no mount namespaces for this user', timeout: 30_000 },
  async (t) => {
    const { state, dir } = tempState(t, newLabId());
    const hosts = path.join(dir, 'hosts');
    writeFileSync(hosts, '127.0.0.1\tlocalhost\n127.77.1.10\tmysql.fqdn.example\n');
    const hostBefore = readFileSync('/etc/hosts', 'utf8');
    const p = await startLabProcess(state, path.join(dir, 'logs'), {
      name: 'resolver',
      argv: ['getent', 'hosts', 'mysql.fqdn.example'],
      hostsFile: hosts,
    });
    await new Promise((r) => p.child.once('exit', r));
    assert.match(readFileSync(p.logFile, 'utf8'), /^127\.77\.1\.10\s+mysql\.fqdn\.example/m);
    assert.equal(readFileSync('/etc/hosts', 'utf8'), hostBefore, "the host's /etc/hosts is unchanged");
  },
);

test(
  "netns mode: a relay inside the pod's namespace exposes its loopback-only admin port on the host's loopback",
  { skip: netns.ok ? false : netns.reason, timeout: 60_000 },
  async (t) => {
    const lab = loadLabFile(path.join(repoRoot(), 'test/lab/fixtures/two-clusters'));
    const plan = planLab(lab, 'netns', newLabId());
    const { state, dir } = tempState(t, plan.labId);
    createNetnsTopology(plan, state);
    const pod = plan.pods.find((p) => p.name === 'client')!;
    // A server on the pod's own 127.0.0.1 answering "pong" (socat is only the test's stand-in for an admin
    // port, which listens on loopback only): no other namespace can reach it, the relay started inside can.
    await startLabProcess(state, path.join(dir, 'logs'), {
      name: 'pong',
      netns: pod.netns!,
      argv: ['socat', 'TCP-LISTEN:15000,bind=127.0.0.1,fork,reuseaddr', 'SYSTEM:echo pong'],
    });
    const relay = await startAdminRelay(state, path.join(dir, 'logs'), 'relay', pod.netns!, [
      { listen: { host: pod.hostAddress, port: 15000 }, target: { host: '127.0.0.1', port: 15000 } },
    ]);
    assert.ok(
      state.value.resources.some((r) => r.kind === 'process' && r.pid === relay.pid && r.netns === pod.netns),
      "the relay is recorded by pid, in the pod's namespace",
    );
    let answer = '';
    for (let i = 0; i < 50 && answer === ''; i++) {
      answer = await new Promise<string>((resolve) => {
        const s = net.connect({ host: pod.hostAddress, port: 15000 });
        let data = '';
        s.on('data', (d) => (data += d.toString()));
        s.on('close', () => resolve(data.trim()));
        s.on('error', () => resolve(''));
      });
      if (answer === '') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(answer, 'pong');
  },
);
