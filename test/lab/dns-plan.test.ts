// The lab's DNS plan (pure, no root): with DNS capture the pods' hosts files drop the lab's `dns:`
// names, each cluster's DNS server answers them as that cluster sees them, Services with a cluster IP
// are added from the config folder, and a real cluster DNS server process answers from that table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { loadLabFile } from '../../src/lab/lab-file.js';
import { planLab, podKey } from '../../src/lab/lab-plan.js';
import { clusterDnsTable, servicesWithClusterIp } from '../../src/lab/cluster-dns.js';
import { nodeEntry } from '../../src/lab/lab-process.js';
import { DnsRcode, DnsType, decodeMessage, encodeQuery } from '../../src/capture/dns-wire.js';
import { queryTcp, queryUdp } from '../capture/dns-test-server.js';
import { repoRoot } from '../repo-root.js';

const fixture = path.join(repoRoot(), 'test/lab/fixtures/two-clusters');

test('netns plan with DNS capture: hosts files without the dns: names, per-cluster DNS names, the resolver on the bridge address', () => {
  const lab = loadLabFile(fixture);
  const plan = planLab(lab, 'netns', 'mgabc123', { dnsCapture: true });
  assert.equal(plan.dnsCapture, true);
  for (const pod of plan.pods) {
    const hosts = plan.hosts.get(podKey(pod))!;
    assert.doesNotMatch(hosts, /echo\.fqdn\.example/, `${podKey(pod)}: the name comes from DNS`);
    assert.match(hosts, new RegExp(`^${pod.address.replace(/\./g, '\\.')}\\t${pod.name}$`, 'm'));
  }
  assert.deepEqual(
    plan.clusters.map((c) => c.dnsAddress),
    ['198.18.1.1', '198.18.2.1'],
  );
  // Cluster A reaches B's ingress gateway on the WAN; inside B it is the gateway's pod address.
  assert.deepEqual(Object.fromEntries(plan.clusterDnsNames), {
    'cluster-a': { 'echo.fqdn.example': '198.19.0.21' },
    'cluster-b': { 'echo.fqdn.example': '198.18.2.2' },
  });

  // Without DNS capture (and in loopback mode) the hosts files keep the names, as before.
  const plain = planLab(lab, 'netns', 'mgabc123');
  assert.equal(plain.dnsCapture, false);
  assert.match(plain.hosts.get(podKey(plain.pods.find((p) => p.name === 'client')!))!, /^198\.19\.0\.21\techo\.fqdn\.example$/m);
  const lo = planLab(lab, 'loopback', 'mgabc123', { dnsCapture: true });
  assert.equal(lo.dnsCapture, false, 'loopback mode has no DNS capture');
  assert.equal(lo.clusterDnsNames.size, 0);
});

test('cluster DNS table: Services with a cluster IP from the config folder, then the dns: names', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-dns-plan-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'sub'));
  writeFileSync(
    path.join(dir, 'sub', 'svc.yaml'),
    [
      'apiVersion: v1',
      'kind: Service',
      'metadata: { name: db, namespace: data }',
      'spec: { clusterIP: 10.96.0.20, ports: [{ port: 5432 }] }',
      '---',
      'apiVersion: v1',
      'kind: Service',
      'metadata: { name: headless }',
      'spec: { clusterIP: None }',
      '---',
      'apiVersion: v1',
      'kind: Service',
      'metadata: { name: plain }',
      'spec: { ports: [{ port: 80 }] }',
      '---',
      'apiVersion: networking.istio.io/v1',
      'kind: ServiceEntry',
      'metadata: { name: se }',
      'spec: { hosts: [x.example] }',
      '',
    ].join('\n'),
  );
  writeFileSync(path.join(dir, 'notes.txt'), 'kind: Service\n');
  assert.deepEqual(servicesWithClusterIp(dir), {
    'db.data.svc.cluster.local': { ips: ['10.96.0.20'], registry: 'Kubernetes', shortname: 'db', namespace: 'data' },
  });
  const plan = planLab(loadLabFile(fixture), 'netns', 'mgabc123', { dnsCapture: true });
  assert.deepEqual(clusterDnsTable(plan, { name: 'cluster-a' }, dir).table, {
    'db.data.svc.cluster.local': { ips: ['10.96.0.20'], registry: 'Kubernetes', shortname: 'db', namespace: 'data' },
    'echo.fqdn.example': { ips: ['198.19.0.21'], registry: 'External' },
  });
});

test(
  'the cluster DNS server process answers its table over UDP and TCP, fails other names at once, and stops on SIGTERM',
  { timeout: 30_000 },
  async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-dns-plan-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(
      path.join(dir, 'table.json'),
      JSON.stringify({ table: { 'echo.fqdn.example': { ips: ['198.19.0.21'], registry: 'External' } } }),
    );
    const ready = path.join(dir, 'ready.json');
    const argv = nodeEntry('cluster-dns-server', new URL('../../src/lab/lab.js', import.meta.url).href);
    // Port 0 on loopback (the lab uses port 53 on the bridge address, which needs a namespace and root).
    const child = spawn(
      argv[0]!,
      [...argv.slice(1), '--listen', '127.0.0.1:0', '--table', path.join(dir, 'table.json'), '--ready-file', ready],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    for (let i = 0; i < 200 && !existsSync(ready); i++) {
      if (child.exitCode !== null) assert.fail(`cluster-dns-server exited: ${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const at = JSON.parse(readFileSync(ready, 'utf8')) as { address: string; port: number };
    const udp = decodeMessage(await queryUdp(at, encodeQuery(1, 'echo.fqdn.example', DnsType.A)));
    assert.deepEqual(
      udp.answers.map((a) => a.data),
      ['198.19.0.21'],
    );
    const [tcpRaw] = await queryTcp(at, [encodeQuery(2, 'ECHO.fqdn.example', DnsType.A)]);
    assert.deepEqual(
      decodeMessage(tcpRaw!).answers.map((a) => a.data),
      ['198.19.0.21'],
    );
    const unknown = decodeMessage(await queryUdp(at, encodeQuery(3, 'elsewhere.example', DnsType.A)));
    assert.equal(unknown.header.rcode, DnsRcode.SERVFAIL, 'no upstream: other names fail at once');
    child.kill('SIGTERM');
    assert.equal(await exited, 0, output);
  },
);
