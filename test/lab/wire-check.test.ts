import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { findPlaintext, startWireCapture, tcpdumpAvailable } from '../../src/lab/wire-check.js';
import { tcpFlowsFromPcap } from '../../src/lab/pcap.js';

const avail = tcpdumpAvailable();

test('the pcap reader refuses what is not a pcap file and accepts an empty capture', () => {
  assert.throws(() => tcpFlowsFromPcap(Buffer.alloc(40, 7)), /not a pcap file/);
  assert.equal(tcpFlowsFromPcap(Buffer.alloc(0)).size, 0);
});

test(
  'the wire check finds text sent in clear on lo, split across segments, and only there',
  { skip: avail.ok ? false : avail.reason, timeout: 60_000 },
  async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'meshgate-wire-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const host = `127.${40 + (process.pid % 200)}.9.9`;
    const capture = await startWireCapture(
      { mode: 'loopback', bridgeNetns: [], loopbackNet: `${host.split('.').slice(0, 2).join('.')}.0.0/16` },
      dir,
    );
    t.after(() => capture.stop().then(() => undefined));
    const server = net.createServer((s) => s.on('data', () => undefined).on('end', () => s.end('row-visible-result')));
    await new Promise<void>((r) => server.listen(0, host, r));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((resolve, reject) => {
      const c = net.connect({ host, port, noDelay: true }, () => {
        // Two writes a moment apart: the needle spans two TCP segments.
        c.write('SELECT secret-qu');
        setTimeout(() => c.end('ery-text FROM t'), 50);
      });
      c.on('data', () => undefined);
      c.on('close', () => resolve());
      c.on('error', reject);
    });
    const flows = await capture.stop();
    const found = findPlaintext(flows, ['secret-query-text', 'row-visible-result', 'never-sent']);
    assert.deepEqual(found.map((f) => f.needle).sort(), ['row-visible-result', 'secret-query-text']);
    assert.ok(
      found.every((f) => f.flow.includes(host)),
      'found on the test flow',
    );
  },
);
