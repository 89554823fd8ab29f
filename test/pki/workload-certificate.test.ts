import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MeshCA } from '../../src/pki/mesh-ca.js';
import { WorkloadCertificateManager, type SetTimer, type WorkloadCertificate } from '../../src/pki/workload-certificate.js';
import { verifyChain } from '../../src/pki/verify.js';

/** A clock and timer queue the test drives by hand. */
function fakeTime(startMs: number) {
  let now = startMs;
  const timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
  const setTimer: SetTimer = (fn, delayMs) => {
    const t = { at: now + delayMs, fn, cancelled: false };
    timers.push(t);
    return {
      cancel: () => {
        t.cancelled = true;
      },
    };
  };
  return {
    now: () => now,
    setTimer,
    pending: () => timers.filter((t) => !t.cancelled).sort((a, b) => a.at - b.at),
    /** Moves the clock to the next timer and fires it. */
    fireNext(): number {
      const next = this.pending()[0];
      if (!next) throw new Error('no timer pending');
      next.cancelled = true;
      now = Math.max(now, next.at);
      next.fn();
      return now;
    },
  };
}

async function until<T>(fn: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 1000; i++) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('renews at half the lifetime with a fresh key, before the certificate expires (injected clock)', async () => {
  const start = Date.parse('2030-01-01T00:00:00Z');
  const time = fakeTime(start);
  const ca = await MeshCA.createSelfSigned({ trustDomain: 'cluster.local', now: () => new Date(time.now()), rootTtlSeconds: 86400 });
  let requests = 0;
  const mgr = new WorkloadCertificateManager({
    ttlSeconds: 60,
    now: time.now,
    setTimer: time.setTimer,
    requestChain: (csr, ttl) => {
      requests++;
      return ca.signWorkloadCsr(csr, { namespace: 'a', serviceAccount: 'x' }, ttl);
    },
  });
  const rotated: WorkloadCertificate[] = [];
  mgr.on('rotated', (c: WorkloadCertificate) => rotated.push(c));
  await mgr.start();
  const first = mgr.current();
  assert.deepEqual(first.info.uris, ['spiffe://cluster.local/ns/a/sa/x']);
  assert.equal(first.rootPem, ca.rootBundlePem());
  assert.equal(mgr.renewalTime(), start + 30_000, 'grace ratio 0.5 of a 60 s lifetime');
  const firedAt = time.fireNext();
  assert.equal(firedAt, start + 30_000);
  const second = await until(() => rotated[0], 'the first rotation');
  assert.ok(firedAt < first.info.notAfter.getTime(), 'renewed before expiry');
  assert.notEqual(second.privateKeyPem, first.privateKeyPem, 'a fresh key each rotation');
  assert.notEqual(second.info.serialHex, first.info.serialHex);
  assert.equal(mgr.current(), second);
  assert.ok(verifyChain([second.certChainPem], [second.rootPem], { now: new Date(time.now()) }).ok);
  assert.equal(mgr.renewalTime(), start + 60_000);
  mgr.stop();
  assert.equal(time.pending().length, 0, 'stop() cancels the renewal');
  assert.equal(requests, 2);
});

test('a failed renewal is retried with growing backoff and reported, then succeeds', async () => {
  const start = Date.parse('2030-01-01T00:00:00Z');
  const time = fakeTime(start);
  const ca = await MeshCA.createSelfSigned({ trustDomain: 'cluster.local', now: () => new Date(time.now()), rootTtlSeconds: 86400 });
  let failuresLeft = 0;
  const mgr = new WorkloadCertificateManager({
    ttlSeconds: 100,
    graceRatio: 0.2,
    retryInitialMs: 1000,
    retryMaxMs: 3000,
    now: time.now,
    setTimer: time.setTimer,
    requestChain: async (csr, ttl) => {
      if (failuresLeft > 0) {
        failuresLeft--;
        throw new Error('CA unreachable');
      }
      return ca.signWorkloadCsr(csr, { namespace: 'a', serviceAccount: 'x' }, ttl);
    },
  });
  const failures: number[] = [];
  const rotated: WorkloadCertificate[] = [];
  mgr.on('renewalFailed', (_e: Error, attempt: number) => failures.push(attempt));
  mgr.on('rotated', (c: WorkloadCertificate) => rotated.push(c));
  await mgr.start();
  assert.equal(mgr.renewalTime(), start + 80_000, '20 % of the lifetime left');
  failuresLeft = 3;
  const fireTimes: number[] = [];
  for (let i = 0; i < 4; i++) {
    fireTimes.push(time.fireNext());
    await until(() => (failures.length > i || rotated.length > 0 ? true : undefined), `attempt ${i + 1}`);
  }
  assert.deepEqual(failures, [1, 2, 3]);
  assert.deepEqual(
    fireTimes.map((t) => t - start),
    [80_000, 81_000, 83_000, 86_000],
    'backoff 1 s, 2 s, then capped at 3 s',
  );
  assert.equal(rotated.length, 1);
  mgr.stop();
});

test('with real timers and a 2 s certificate the manager rotates before expiry', async (t) => {
  const ca = await MeshCA.createSelfSigned({ trustDomain: 'cluster.local' });
  const mgr = new WorkloadCertificateManager({
    ttlSeconds: 2,
    requestChain: (csr, ttl) => ca.signWorkloadCsr(csr, { namespace: 'a', serviceAccount: 'x' }, ttl),
  });
  t.after(() => mgr.stop());
  await mgr.start();
  const first = mgr.current();
  const rotated = await new Promise<WorkloadCertificate>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no rotation within 10 s')), 10_000);
    mgr.once('rotated', (c: WorkloadCertificate) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  assert.ok(Date.now() < first.info.notAfter.getTime() + 1000, "rotated no later than the old certificate's expiry (1 s granularity)");
  assert.notEqual(rotated.info.serialHex, first.info.serialHex);
});
