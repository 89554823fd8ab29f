// The single-hop load's harness: the three relays (bare Node relay, meshgate's Proxy, HAProxy) in front of
// the TLS sink, each carrying the load's three shapes end to end with real certificates; the figures'
// medians and ratios; `--only hop` needing no chain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateBenchCertificates } from '../../bench/certs.js';
import { bulkDownload, bulkUpload, hopChurn, hopIdle } from '../../bench/hop/loads.js';
import { HOP_FIGURES, missingHopFigures, renderHopTable, summarizeHop, type HopSample } from '../../bench/hop/phase.js';
import { renderHopHaproxyConfig, startHopRig } from '../../bench/hop/relays.js';
import { rssKb } from '../../bench/procstat.js';
import { CHAINLESS_LOADS, parseArgs } from '../../bench/run-config.js';

test('each relay of the hop carries echo, upload and download between the mTLS client and the mTLS sink', async (t) => {
  const certs = await generateBenchCertificates();
  const rig = await startHopRig(certs);
  t.after(() => rig.stop());
  assert.deepEqual(
    rig.relays.map((r) => r.kind),
    ['bare', 'meshgate', 'haproxy'],
  );
  for (const r of rig.relays) {
    assert.ok(rssKb(r.pid) > 0, `${r.kind} runs`);
    const churn = await hopChurn(r.client, 20, 4);
    assert.deepEqual(churn, { ok: 20, failures: 0 }, `${r.kind}: 20 connect + echo + close`);
    const idle = await hopIdle(r.client, 10, 5);
    assert.equal(idle.held, 10, `${r.kind}: 10 idle connections held`);
    await idle.release();
    assert.ok((await bulkUpload(r.client, 0.3)) > 1_000_000, `${r.kind}: upload reaches the sink`);
    assert.ok((await bulkDownload(r.client, 0.3)) > 1_000_000, `${r.kind}: download reaches the client`);
  }
});

test('a client without the mesh certificate is refused by every relay', async (t) => {
  const certs = await generateBenchCertificates();
  const rig = await startHopRig(certs);
  t.after(() => rig.stop());
  for (const r of rig.relays) {
    // The R-signed client credential is not issued by mesh CA A: every relay must refuse the handshake.
    const wrong = { ...r.client, certPem: certs.egressClient.certPem, keyPem: certs.egressClient.keyPem };
    const res = await hopChurn(wrong, 2, 1);
    assert.deepEqual(res, { ok: 0, failures: 2 }, `${r.kind} refuses a foreign client certificate`);
  }
});

test('hop figures: medians per relay, ratios meshgate/bare and meshgate/HAProxy, missing values named', () => {
  const s = (figure: string, relay: HopSample['relay'], value: number, repeat = 0): HopSample => ({ figure, relay, repeat, value });
  const samples: HopSample[] = [
    s('hop_churn_cpu_ms_per_conn', 'bare', 2.0, 0),
    s('hop_churn_cpu_ms_per_conn', 'bare', 1.0, 1),
    s('hop_churn_cpu_ms_per_conn', 'bare', 3.0, 2),
    s('hop_churn_cpu_ms_per_conn', 'meshgate', 2.3),
    s('hop_churn_cpu_ms_per_conn', 'haproxy', 1.6),
  ];
  const figures = summarizeHop(samples);
  assert.equal(figures.length, HOP_FIGURES.length);
  const churn = figures.find((f) => f.name === 'hop_churn_cpu_ms_per_conn')!;
  assert.deepEqual(churn, {
    name: 'hop_churn_cpu_ms_per_conn',
    unit: 'CPU-ms/conn',
    better: 'lower',
    bare: 2,
    meshgate: 2.3,
    haproxy: 1.6,
    ratio_bare: 1.15,
    ratio_haproxy: 1.437,
  });
  const missing = missingHopFigures(figures);
  assert.ok(missing.includes('hop_idle_kb_per_conn (meshgate)'));
  assert.ok(!missing.some((m) => m.startsWith('hop_churn_cpu_ms_per_conn')));
  assert.match(
    renderHopTable(figures, samples),
    /hop new connection, relay CPU\s+\| CPU-ms\/conn \| 2\.00 \|\s+2\.30 \|\s+1\.60 \|\s+1\.15× \| 1\.44× \|\s+100% \/ 0% \/ 0% \|/,
  );
});

test('--only hop selects the single-hop load alone, which starts no chain', () => {
  const c = parseArgs(['--only', 'hop', '--quick'], '/tmp/unused');
  assert.deepEqual(c.loads, ['hop']);
  assert.ok(CHAINLESS_LOADS.includes('hop'));
  assert.deepEqual(
    c.loads.filter((l) => !CHAINLESS_LOADS.includes(l)),
    [],
  );
});

test('the HAProxy hop config requires and presents client certificates, TLS 1.3 only, SNI and name checked', () => {
  const text = renderHopHaproxyConfig({
    port: 1000,
    upstream: { host: '127.0.0.1', port: 2000 },
    serverCrt: '/d/s.pem',
    serverCa: '/d/a.pem',
    clientCrt: '/d/c.pem',
    clientCa: '/d/r.pem',
    maxconn: 500,
  });
  assert.match(text, /bind 127\.0\.0\.1:1000 ssl crt \/d\/s\.pem ca-file \/d\/a\.pem verify required/);
  assert.match(
    text,
    /server sink 127\.0\.0\.1:2000 ssl crt \/d\/c\.pem ca-file \/d\/r\.pem verify required verifyhost mysql\.fqdn\.example sni str\(mysql\.fqdn\.example\)/,
  );
  assert.match(text, /ssl-default-bind-options ssl-min-ver TLSv1\.3/);
});
