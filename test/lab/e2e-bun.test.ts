// The example lab in loopback mode with every proxy under Bun (`lab up --proxy-runtime bun`): the six
// proxies are Bun processes, `lab verify` passes (the query through the four-proxy chain, mutual TLS
// with the expected identities on each leg) and 10,000 rows cross the chain intact. Skipped, with the
// reason, where Bun is not installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readlinkSync, realpathSync } from 'node:fs';
import { verifyLab } from '../../src/lab/verify.js';
import { bunBinary, bunUnavailableReason } from '../../src/shared/runtime.js';
import { builtCli, exampleLab, tenThousandRows } from './e2e-helpers.js';

const skip = builtCli() || bunUnavailableReason() || false;

test(
  'loopback lab with proxyRuntime bun: every proxy is Bun, lab verify passes, 10,000 rows intact',
  { skip, timeout: 240_000 },
  async (t) => {
    const lab = await exampleLab(t, 'loopback', { proxyRuntime: 'bun' });
    const bun = realpathSync(bunBinary());
    assert.equal(lab.proxies.length, 6);
    for (const p of lab.proxies) {
      assert.equal(p.runtime, 'bun', `${p.cluster}/${p.namespace}/${p.name}`);
      assert.equal(realpathSync(readlinkSync(`/proc/${p.pid}/exe`)), bun, `${p.cluster}/${p.namespace}/${p.name} runs Bun's binary`);
    }
    const report = await verifyLab(lab, { wireCheck: 'if-available', timeoutMs: 30_000 });
    assert.ok(report.passed, JSON.stringify(report, null, 2));
    assert.equal(report.legs.length, 3, 'three mutual-TLS legs');
    await tenThousandRows(lab);
  },
);
