// `meshgate proxy-config` and `meshgate proxy-status` against a running loopback lab, by pod name as
// istioctl does: one lab for every assertion (bringing one up takes most of this test's time).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { builtCli, exampleLab } from '../lab/e2e-helpers.js';
import { meshgateCli, type CliResult } from './cli-helpers.js';

const skip = builtCli();

test('proxy-config and proxy-status by POD[.NAMESPACE] in a running loopback lab', { skip, timeout: 240_000 }, async (t) => {
  const lab = await exampleLab(t, 'loopback');
  const sd = ['--state-dir', lab.stateDir];
  const ok = async (args: string[]): Promise<string> => {
    const r = await meshgateCli([...args, ...sd]);
    assert.equal(r.code, 0, `meshgate ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  };
  const fails = async (args: string[]): Promise<CliResult> => {
    const r = await meshgateCli([...args, ...sd]);
    assert.equal(r.code, 1, `meshgate ${args.join(' ')} should fail: ${r.stdout}`);
    assert.equal(r.stdout, '', 'nothing printed on stdout when the command fails');
    return r;
  };
  const rows = (table: string): string[] => table.trim().split('\n').slice(1);

  await t.test("clusters of the client sidecar by pod name, with istioctl's columns; the aliases print the same", async () => {
    const table = await ok(['proxy-config', 'clusters', 'mysql-client']);
    assert.match(table, /^SERVICE FQDN\s+PORT\s+SUBSET\s+DIRECTION\s+TYPE\s+DESTINATION RULE\n/);
    // DESTINATION RULE: the rule in force, name.namespace, from Istio's cluster metadata.
    assert.match(table, /^mysql\.fqdn\.example\s+13306\s+-\s+outbound\s+STATIC\s+originate-mtls-for-mysql\.default$/m);
    assert.match(
      table,
      /^istio-egressgateway\.istio-system\.svc\.cluster\.local\s+15443\s+mysql\s+outbound\s+EDS\s+egressgateway-for-mysql\.default$/m,
    );
    assert.match(table, /^istio-ingressgateway\.istio-system\.svc\.cluster\.local\s+443\s+-\s+outbound\s+EDS\s+-$/m);
    assert.match(table, /^BlackHoleCluster\s+-\s+-\s+-\s+STATIC\s+-$/m);
    for (const alias of ['cluster', 'c']) assert.equal(await ok(['proxy-config', alias, 'mysql-client.default']), table, alias);
    assert.equal(await ok(['pc', 'clusters', 'mysql-client', '-n', 'default']), table, '-n gives the namespace');
  });

  await t.test("cluster filters --fqdn, --port, --subset, --direction narrow the table as istioctl's", async () => {
    const one = await ok(['proxy-config', 'clusters', 'mysql-client', '--fqdn', 'egressgateway', '--port', '15443', '--subset', 'mysql']);
    assert.deepEqual(
      rows(one).map((r) => r.split(/\s+/).slice(0, 4).join(' ')),
      ['istio-egressgateway.istio-system.svc.cluster.local 15443 mysql outbound'],
    );
    const outbound = rows(await ok(['proxy-config', 'clusters', 'mysql-client', '--direction', 'outbound']));
    assert.ok(outbound.length > 3 && outbound.every((r) => /\soutbound\s/.test(r)), outbound.join('\n'));
    assert.deepEqual(
      rows(await ok(['proxy-config', 'clusters', 'mysql-client', '--direction', 'inbound'])),
      [],
      'the client sidecar has no inbound service cluster',
    );
    const json = JSON.parse(await ok(['proxy-config', 'clusters', 'mysql-client', '--fqdn', 'mysql.fqdn.example', '-o', 'json'])) as {
      name: string;
    }[];
    assert.deepEqual(
      json.map((c) => c.name),
      ['outbound|3306||mysql.fqdn.example', 'outbound|13306||mysql.fqdn.example'],
      '-o json prints the filtered clusters themselves',
    );
  });

  await t.test('listeners of a gateway by POD.NAMESPACE: the egress gateway in cluster A, filtered by --port and --address', async () => {
    const egressA = lab.proxies.find((p) => p.cluster === 'cluster-a' && p.gateway === 'egress')!;
    const table = await ok([
      'proxy-config',
      'listeners',
      'istio-egressgateway.istio-system',
      '--lab-cluster',
      'cluster-a',
      '--port',
      '15443',
    ]);
    assert.match(table, /^ADDRESSES\s+PORT\s+MATCH\s+DESTINATION\n/);
    assert.match(
      table,
      new RegExp(
        `^${egressA.address.replace(/\./g, '\\.')}\\s+15443\\s+SNI: mysql\\.fqdn\\.example\\s+Cluster: outbound\\|13306\\|\\|mysql\\.fqdn\\.example$`,
        'm',
      ),
    );
    assert.deepEqual(
      rows(await ok(['pc', 'l', 'istio-egressgateway.istio-system', '--lab-cluster', 'cluster-a', '--address', '192.0.2.1'])),
      [],
    );
    const yaml = await ok(['proxy-config', 'listener', 'istio-egressgateway.istio-system', '--lab-cluster', 'cluster-a', '-o', 'yaml']);
    assert.match(yaml, /^- name: \S+_15443$/m);
  });

  await t.test('endpoints, secrets and bootstrap of the server sidecar in cluster B', async () => {
    const db = lab.workloads.find((w) => w.cluster === 'cluster-b' && w.ports.includes(3306))!;
    assert.match(
      await ok(['proxy-config', 'endpoints', 'mysql', '--port', '3306', '--status', 'healthy']),
      new RegExp(`^${db.address.replace(/\./g, '\\.')}:3306\\s+HEALTHY\\s+OK\\s+`, 'm'),
    );
    const secrets = await ok(['proxy-config', 'secret', 'mysql.default']);
    assert.match(secrets, /^default\s+Cert Chain\s+ACTIVE\s+true\s+/m);
    assert.match(secrets, /^ROOTCA\s+Ca\s+ACTIVE\s+true\s+/m);
    assert.match(
      await ok(['proxy-config', 'bootstrap', 'mysql']),
      /^sidecar~\S+~mysql\.default~\S+\s+default\s+mysql\s+cluster-b\s+app=mysql$/m,
    );
    const all = await ok(['proxy-config', 'all', 'mysql']);
    for (const h of ['SERVICE FQDN', 'ADDRESSES', 'ENDPOINT', 'RESOURCE NAME']) assert.ok(all.includes(h), h);
  });

  await t.test('wrong names and values fail clearly, naming what exists', async () => {
    assert.match(
      (await fails(['proxy-config', 'clusters', 'nosuchpod'])).stderr,
      /\[E_POD_NOT_FOUND\] no proxy for pod nosuchpod\.default in lab mysql-cross-cluster \(pods with a proxy: .*mysql-client\.default/,
    );
    assert.match(
      (await fails(['proxy-config', 'clusters', 'istio-ingressgateway.istio-system'])).stderr,
      /\[E_POD_NOT_FOUND\] pod istio-ingressgateway\.istio-system runs in several clusters \(cluster-a, cluster-b\): choose one with --lab-cluster/,
    );
    assert.match(
      (await fails(['proxy-config', 'routes', 'mysql-client'])).stderr,
      /\[E_PROXY_CONFIG\] config type "routes" is not served by meshgate/,
    );
    assert.match(
      (await fails(['proxy-config', 'clusters', 'mysql-client', '--port', 'http'])).stderr,
      /\[E_CLI_USAGE\] --port "http" is not a port number/,
    );
    assert.match(
      (await fails(['proxy-config', 'clusters', 'mysql-client', '--direction', 'in'])).stderr,
      /\[E_CLI_USAGE\] --direction "in" must be inbound or outbound/,
    );
    assert.match(
      (await fails(['proxy-config', 'listeners', 'mysql-client', '--fqdn', 'x'])).stderr,
      /\[E_CLI_USAGE\] --fqdn filters clusters, not listeners/,
    );
    assert.match(
      (await fails(['proxy-config', 'clusters', 'mysql-client', '-o', 'wide'])).stderr,
      /\[E_CLI_USAGE\] unsupported output format "wide" for "meshgate proxy-config": use one of short, json, yaml/,
    );
  });

  await t.test('proxy-status lists every proxy of both clusters SYNCED; by pod, the control plane and the proxy agree', async () => {
    const table = await ok(['proxy-status']);
    assert.match(table, /^NAME\s+CLUSTER\s+CDS\s+LDS\s+EDS\s+SDS\s+ISTIOD\s+VERSION$/m);
    assert.equal(rows(table).length, lab.proxies.length, table);
    assert.match(table, /^mysql-client\.default\s+cluster-a\s+SYNCED\s+SYNCED\s+SYNCED\s+NOT SENT\s+\S+:15014\s+/m);
    assert.match(table, /^istio-ingressgateway\.istio-system\s+cluster-b\s+SYNCED\s+SYNCED\s+SYNCED\s+SYNCED\s+/m);
    assert.equal(await ok(['proxy-status', 'mysql-client']), 'Clusters Match\nListeners Match\nEndpoints Match\nSecrets Match\n');
    assert.equal(
      await ok(['proxy-status', 'istio-egressgateway.istio-system', '--lab-cluster', 'cluster-a']),
      'Clusters Match\nListeners Match\nEndpoints Match\nSecrets Match\n',
    );
    const json = JSON.parse(await ok(['proxy-status', 'mysql.default', '-o', 'json'])) as {
      clusterId: string;
      types: { type: string; match: boolean }[];
    };
    assert.equal(json.clusterId, 'cluster-b');
    assert.deepEqual(
      json.types.map((x) => `${x.type} ${x.match}`),
      ['Clusters true', 'Listeners true', 'Endpoints true', 'Secrets true'],
    );
    assert.match((await fails(['proxy-status', 'mysql', '-o', 'wide'])).stderr, /\[E_CLI_USAGE\] -o wide is for the table/);
  });
});
