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
import { builtCli, exampleLab, tenThousandRows } from './e2e-helpers.js';

const netns = netnsModeAvailable();
const skip = builtCli() || (netns.ok ? false : netns.reason);

function hostSnapshot(): { netns: string; iptables: string } {
  const out = (cmd: string, args: string[]): string => spawnSync(cmd, args, { encoding: 'utf8' }).stdout ?? '';
  const rules = out('iptables-save', []).split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/g, '')).join('\n');
  return { netns: out('ip', ['netns', 'list']), iptables: rules };
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

  const pids = [...lab.proxies.map((p) => p.pid), ...lab.workloads.flatMap((w) => (w.pid ? [w.pid] : [])), ...lab.clusters.flatMap((c) => (c.controlPlanePid ? [c.controlPlanePid] : []))];
  await lab.down();
  for (const pid of pids) assert.equal(pidAlive(pid), false, `pid ${pid} is gone`);
  const after = hostSnapshot();
  assert.equal(after.netns, before.netns, 'no namespace left');
  assert.equal(after.iptables, before.iptables, 'no iptables rule left on the host');
  assert.equal(spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout.includes(lab.labId), false, 'no link of the lab on the host');
  for (const w of lab.workloads) if (w.socketPath) assert.equal(existsSync(path.dirname(w.socketPath)), false, "the database's temp dir is removed");
  assert.equal(existsSync(path.join(lab.stateDir, 'pods')), false, 'the state dir holds nothing the lab wrote');
  for (const p of lab.proxies) if (p.netns) assert.equal(existsSync(`/etc/netns/${p.netns}`), false);
});
