// The DNS name table: Services by cluster IP, ServiceEntries by address or a stable auto-allocated VIP.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfigObject, ServiceEntry } from '../../src/config/types.js';
import { buildNameTable } from '../../src/model/name-table.js';
import { clientSidecar, clusterA, service, sidecarNode, snapshotOf } from './fixtures.js';

function se(name: string, namespace: string, spec: Partial<ServiceEntry['spec']> & { hosts: string[] }): ServiceEntry {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'ServiceEntry',
    metadata: { name, namespace },
    spec: { ports: [{ number: 1, name: 'tcp', protocol: 'TCP' }], resolution: 'DNS', ...spec },
  };
}

const node = sidecarNode({ podName: 'c', namespace: 'default', labels: {} });

test('Services answer with their cluster IP, short name and namespace; headless ones are left to pod DNS', () => {
  const t = buildNameTable(
    snapshotOf([
      service('db', 'default', { app: 'db' }, [{ name: 'tcp', port: 1 }], '10.96.0.10'),
      service('hl', 'default', { app: 'x' }, [{ name: 'tcp', port: 1 }], 'None'),
    ]),
    node,
  );
  assert.deepEqual(t.table['db.default.svc.cluster.local'], {
    ips: ['10.96.0.10'],
    registry: 'Kubernetes',
    shortname: 'db',
    namespace: 'default',
  });
  assert.equal(t.table['hl.default.svc.cluster.local'], undefined);
});

test('ServiceEntry hosts answer with their addresses, or a VIP in 240.240.0.0/16; wildcards, NONE and unexported hosts are absent', () => {
  const t = buildNameTable(
    snapshotOf([
      se('a', 'default', { hosts: ['a.example'], addresses: ['192.0.2.10'] }),
      se('b', 'default', { hosts: ['b.example', 'c.example'] }),
      se('w', 'default', { hosts: ['*.wild.example'] }),
      se('n', 'default', { hosts: ['n.example'], resolution: 'NONE' }),
      se('hidden', 'other', { hosts: ['hidden.example'], exportTo: ['.'] }),
    ]),
    node,
  );
  assert.deepEqual(t.table['a.example'], { ips: ['192.0.2.10'], registry: 'External' });
  for (const h of ['b.example', 'c.example']) assert.match(t.table[h]?.ips[0] ?? '', /^240\.240\.\d{1,3}\.\d{1,3}$/, h);
  assert.notEqual(t.table['b.example']?.ips[0], t.table['c.example']?.ips[0]);
  assert.deepEqual(Object.keys(t.table).sort(), ['a.example', 'b.example', 'c.example']);
});

test('auto-allocated VIPs depend on the configuration only: same answers whatever order the objects arrive in', () => {
  const objs: ConfigObject[] = Array.from({ length: 40 }, (_, i) => se(`s${i}`, i % 2 ? 'default' : 'other', { hosts: [`h${i}.example`] }));
  const forward = buildNameTable(snapshotOf(objs), node);
  const backward = buildNameTable(snapshotOf([...objs].reverse()), node);
  assert.deepEqual(forward, backward);
  const ips = Object.values(forward.table).map((i) => i.ips[0]);
  assert.equal(new Set(ips).size, 40, 'every host has its own address');
  // Adding an unrelated host does not move existing ones (no sequential allocation).
  const more = buildNameTable(snapshotOf([...objs, se('new', 'default', { hosts: ['zz-new.example'] })]), node);
  for (const [h, info] of Object.entries(forward.table)) assert.deepEqual(more.table[h], info, h);
});

test('the seed: mysql.fqdn.example gets a stable auto VIP for the client sidecar', async () => {
  const t = buildNameTable(await clusterA(), clientSidecar);
  assert.match(t.table['mysql.fqdn.example']?.ips[0] ?? '', /^240\.240\./);
});
