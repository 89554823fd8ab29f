import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SnapshotCache,
  SnapshotInconsistentError,
  checkSnapshotConsistency,
  snapshotFromResources,
  referencedSecrets,
} from '../../src/xds/snapshot-cache.js';
import { TypeUrl } from '../../src/envoy/envoy-types.js';
import type { Listener } from '../../src/envoy/envoy-types.js';
import * as fx from './fixtures.js';

const complete = () =>
  snapshotFromResources(
    '1',
    {
      listeners: [fx.virtualOutbound, fx.ingressListener],
      clusters: [
        fx.edsCluster,
        fx.staticDnsCluster,
        fx.originalDstCluster,
        { ...fx.originalDstCluster, name: 'a' },
        { ...fx.originalDstCluster, name: 'b' },
        { ...fx.originalDstCluster, name: 'inbound|3306||' },
      ],
      endpoints: [fx.assignment],
      secrets: [
        fx.certSecret,
        fx.caSecret,
        { ...fx.certSecret, name: 'kubernetes://mysql-credential' },
        { ...fx.caSecret, name: 'kubernetes://mysql-credential-cacert' },
      ],
    },
    fx.nameTable,
  );

test('a complete snapshot is consistent; default and ROOTCA are left to the proxy agent', () => {
  assert.deepEqual(checkSnapshotConsistency(complete()), []);
  assert.deepEqual(referencedSecrets(TypeUrl.Cluster, fx.edsCluster), []);
});

test('names every missing cluster, assignment and secret', () => {
  const s = complete();
  s.resources.get(TypeUrl.Cluster)!.delete(fx.EGRESS_CLUSTER.replace('15443', '15443'));
  s.resources.get(TypeUrl.Secret)!.delete('kubernetes://client-credential-cacert');
  s.resources
    .get(TypeUrl.Cluster)!
    .set('outbound|1||x', { name: 'outbound|1||x', type: 'EDS', edsClusterConfig: { edsConfig: { ads: {} } } });
  const problems = checkSnapshotConsistency(s);
  assert.ok(
    problems.some((p) => p.includes(`routes to cluster "${fx.EGRESS_CLUSTER}"`)),
    problems.join('\n'),
  );
  assert.ok(
    problems.some((p) => p.includes('needs secret "kubernetes://client-credential-cacert"')),
    problems.join('\n'),
  );
  assert.ok(
    problems.some((p) => p.includes('EDS cluster "outbound|1||x" has no ClusterLoadAssignment')),
    problems.join('\n'),
  );
});

test('refuses an inconsistent or unencodable snapshot and keeps serving the previous one', () => {
  const cache = new SnapshotCache();
  cache.setSnapshot('n1', complete());
  const broken = complete();
  broken.version = '2';
  broken.resources.get(TypeUrl.ClusterLoadAssignment)!.clear();
  assert.throws(
    () => cache.setSnapshot('n1', broken),
    (e: unknown) =>
      e instanceof SnapshotInconsistentError && e.code === 'E_XDS_SNAPSHOT_INCONSISTENT' && /no ClusterLoadAssignment/.test(e.message),
  );
  const invalid = complete();
  invalid.version = '3';
  const l = structuredClone(fx.virtualOutbound) as Listener & { bogus?: number };
  l.bogus = 1;
  invalid.resources.get(TypeUrl.Listener)!.set(l.name, l);
  assert.throws(() => cache.setSnapshot('n1', invalid), /Listener "virtualOutbound": bogus: unknown field/);
  assert.equal(cache.getSnapshot('n1')!.version, '1');
});

test('a resource keyed under a different name than it carries is refused', () => {
  const s = complete();
  s.resources.get(TypeUrl.Cluster)!.set('other', fx.originalDstCluster);
  assert.ok(checkSnapshotConsistency(s).some((p) => p.includes('keyed "other" is named "PassthroughCluster"')));
});
