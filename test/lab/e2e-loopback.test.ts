// End to end in loopback mode (any user): the example lab with a real database, an unmodified client,
// 10,000 rows, `lab verify`, the negative cases and gateway credential rotation — one lab, in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { verifyLab } from '../../src/lab/verify.js';
import { runMariaDbSql } from '../../src/lab/mariadb.js';
import {
  accessLogSince,
  builtCli,
  clientSql,
  eventually,
  exampleLab,
  isPostgres,
  meshgate,
  replaceFile,
  serialOf,
  sizeOf,
  tenThousandRows,
} from './e2e-helpers.js';

const skip = builtCli();

test('loopback lab: the seed scenario end to end, its failure modes and rotation', { skip, timeout: 240_000 }, async (t) => {
  const lab = await exampleLab(t, 'loopback');
  const ingressB = lab.proxies.find((p) => p.cluster === 'cluster-b' && p.gateway === 'ingress')!;
  const db = lab.workloads.find((w) => w.database !== undefined)!;
  const clusterA = lab.clusters.find((c) => c.name === 'cluster-a')!;
  const clusterB = lab.clusters.find((c) => c.name === 'cluster-b')!;
  const secretFile = path.join(clusterA.configDir, 'lab-secrets', 'client-credential.yaml');
  const goodSecret = readFileSync(secretFile, 'utf8');
  const works = async (): Promise<true | undefined> => ((await clientSql(lab, ['SELECT 1'], 20_000)).code === 0 ? true : undefined);
  const fails = async (): Promise<true | undefined> => ((await clientSql(lab, ['SELECT 1'], 20_000)).code !== 0 ? true : undefined);

  await t.test('10,000 rows through the chain with the unmodified client, checksum intact', async () => {
    await tenThousandRows(lab);
  });

  await t.test('lab verify passes: three TLS legs, three trust chains, no plaintext on the wire', async () => {
    const report = await verifyLab(lab);
    assert.equal(report.passed, true, `verify failed:\n  ${report.failures.join('\n  ')}`);
    assert.equal(report.wire_check.plaintext_found, false);
    assert.equal(report.legs.length, 3, 'client sidecar -> egress gateway -> ingress gateway -> server sidecar');
    const issuers = new Set(report.legs.map((l) => l.client_issuer));
    assert.equal(issuers.size, 3, `each leg's client certificate comes from its own CA: ${[...issuers].join(' | ')}`);
    for (const l of report.legs) assert.match(l.tls_version ?? '', /^TLSv1\.[23]$/);
  });

  await t.test(
    'a client credential signed by another root is refused at the ingress gateway, and nothing reaches the database',
    async () => {
      const tmp = mkdtempSync(path.join(os.tmpdir(), 'meshgate-e2e-rogue-'));
      t.after(() => rmSync(tmp, { recursive: true, force: true }));
      meshgate(['ca', 'create-root', '--name', 'rogue root', '--out', path.join(tmp, 'root')]);
      meshgate([
        'ca',
        'issue',
        '--ca',
        path.join(tmp, 'root'),
        '--dns',
        'client.mysql.fqdn.example',
        '--usage',
        'client',
        '--out',
        path.join(tmp, 'cred'),
      ]);
      // The egress gateway still trusts R for the server; only its own certificate is from the rogue root.
      const rogue = meshgate([
        'ca',
        'secret',
        '--name',
        'client-credential',
        '--namespace',
        'istio-system',
        '--cert',
        path.join(tmp, 'cred/cert.pem'),
        '--key',
        path.join(tmp, 'cred/key.pem'),
        '--cacert',
        path.join(lab.credentialsDir!, 'client-credential/ca.pem'),
      ]);
      replaceFile(secretFile, rogue);
      await eventually('queries fail once the rogue credential is served', 30_000, fails);
      // From here on every attempt must stop at the ingress gateway.
      const logOffset = sizeOf(ingressB.accessLog);
      const connections = async (): Promise<number> =>
        Number((await runMariaDbSql(db.socketPath!, "SHOW GLOBAL STATUS LIKE 'Connections'")).split('\t')[1]);
      // The connection count is MariaDB's; with the embedded PostgreSQL the access logs carry the proof.
      const before = db.database === 'mariadb-server' && db.socketPath ? await connections() : undefined;
      for (let i = 0; i < 3; i++)
        assert.notEqual((await clientSql(lab, ['SELECT 1'], 20_000)).code, 0, 'a query with the rogue credential fails');
      const entries = accessLogSince(ingressB.accessLog, logOffset);
      assert.ok(
        entries.some((e) => e.downstream_transport_failure_reason),
        `the ingress gateway logs a verification failure: ${JSON.stringify(entries.slice(-2))}`,
      );
      // MariaDB counts every connection attempt, the status queries' own included (one each).
      if (before !== undefined) assert.equal(await connections(), before + 1, 'MariaDB saw no connection from the mesh');
      replaceFile(secretFile, goodSecret);
      await eventually('queries work again with the R-signed credential', 30_000, works);
    },
  );

  await t.test('removing the VirtualService stops traffic; restoring it restores traffic', async () => {
    const vs = path.join(clusterB.configDir, 'user-0-cluster-b', 'virtual-service.yaml');
    const aside = path.join(path.dirname(clusterB.configDir), 'virtual-service.yaml.removed');
    renameSync(vs, aside);
    try {
      await eventually('queries fail without the ingress VirtualService', 30_000, fails);
    } finally {
      renameSync(aside, vs);
    }
    await eventually('queries work again', 30_000, works);
  });

  await t.test('deleting the client-credential Secret makes new connections fail closed, never plaintext', async () => {
    const logOffset = sizeOf(ingressB.accessLog);
    const aside = path.join(path.dirname(clusterA.configDir), 'client-credential.yaml.removed');
    renameSync(secretFile, aside);
    try {
      await eventually('queries fail without the client credential', 30_000, fails);
      const plaintext = accessLogSince(ingressB.accessLog, logOffset).filter(
        (e) => !e.downstream_tls_version && Number(e.bytes_received) > 0,
      );
      assert.deepEqual(plaintext, [], 'the ingress gateway received no bytes outside TLS');
    } finally {
      renameSync(aside, secretFile);
    }
    await eventually('queries work again', 30_000, works);
  });

  await t.test(
    'rotating the gateway credential by rename: new connections present the new serial, an open session keeps the old one, no query fails',
    async () => {
      const creds = lab.credentialsDir!;
      const oldSerial = serialOf(path.join(creds, 'client-credential/cert.pem'));
      let failures = 0;
      let queries = 0;
      let stop = false;
      const logOffset = sizeOf(ingressB.accessLog);
      // One session that stays open across the rotation: its gateway-to-gateway leg was set up with the old credential.
      const sleep = isPostgres(lab) ? 'SELECT pg_sleep(8)' : 'SELECT SLEEP(8)';
      const held = clientSql(lab, ['SELECT 41', sleep, 'SELECT 42'], 60_000);
      await new Promise((r) => setTimeout(r, 2000));
      const loop = (async () => {
        for (let i = 0; i < 400 && !stop; i++) {
          const r = await clientSql(lab, ['SELECT 1'], 20_000);
          queries++;
          if (r.code !== 0) failures++;
        }
      })();
      meshgate([
        'ca',
        'rotate',
        '--ca',
        path.join(creds, 'root-ca'),
        '--from',
        path.join(creds, 'client-credential'),
        '--out',
        path.join(creds, 'client-credential-rotated'),
      ]);
      const newSerial = serialOf(path.join(creds, 'client-credential-rotated/cert.pem'));
      assert.notEqual(newSerial, oldSerial);
      replaceFile(
        secretFile,
        meshgate([
          'ca',
          'secret',
          '--name',
          'client-credential',
          '--namespace',
          'istio-system',
          '--cert',
          path.join(creds, 'client-credential-rotated/cert.pem'),
          '--key',
          path.join(creds, 'client-credential-rotated/key.pem'),
          '--cacert',
          path.join(creds, 'client-credential-rotated/ca.pem'),
        ]),
      );
      try {
        await eventually('the ingress gateway sees the new serial', 30_000, async () =>
          accessLogSince(ingressB.accessLog, logOffset).some(
            (e) =>
              String(e.downstream_peer_serial ?? '')
                .toLowerCase()
                .replace(/^0+/, '') === newSerial,
          )
            ? true
            : undefined,
        );
      } finally {
        stop = true;
        await loop;
      }
      assert.ok(queries > 0);
      assert.equal(failures, 0, `${failures} of ${queries} queries failed during rotation`);
      const session = await held;
      assert.equal(session.code, 0, `the session open across the rotation failed: ${session.err}`);
      assert.match(session.out, /41[\s\S]*42/, 'the open session ran its statements before and after the rotation');
      const serialOfEntry = (e: Record<string, unknown>): string =>
        String(e.downstream_peer_serial ?? '')
          .toLowerCase()
          .replace(/^0+/, '');
      const long = await eventually("the open session's access log entry at the ingress gateway", 10_000, async () =>
        accessLogSince(ingressB.accessLog, logOffset).find((e) => Number(e.duration) >= 7000),
      );
      assert.equal(serialOfEntry(long), oldSerial, 'the connection opened before the rotation kept the old certificate');
    },
  );
});
