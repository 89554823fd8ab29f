// Hostile TLS input against a proxy listener (the target in tls-target.ts, its own process): each attack
// counts as handled when the proxy ends it with a clear refusal (a TLS alert or a close) within its
// timeout plus a margin — never a hang — gives the attacker no proxied byte, and the proxy then still
// serves a good client. After all attacks the process must be alive, its sessions back to zero and its
// memory bounded.
import net from 'node:net';
import tls from 'node:tls';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createBenchCa, issueBenchLeaf, type BenchCa, type BenchLeaf } from '../../bench/certs.js';
import { ProcessGroup, type BenchProcess } from '../../bench/processes.js';
import { isAlive, soakScript, startJsonReady } from '../child.js';
import type { SoakReport } from '../results.js';
import type { TlsTargetConfig, TlsTargetState } from './tls-target-config.js';

export const SERVER_NAME = 'mysql.fqdn.example';
const ALLOWED_SAN = 'egress.allowed.example';
/** Listener-filter and handshake timeout of the target; a slow or silent peer must be gone after it. */
const TARGET_TIMEOUT_MS = 2000;
/**
 * How long after the timeout a connection may still linger before the attack counts as a hang: generous,
 * because on a busy machine (2 cores shared by many processes) the proxy's timer runs late; a hang is
 * a connection the proxy never ends, which no margin excuses.
 */
const MARGIN_MS = 8000;

export interface TlsTarget {
  host: string;
  port: number;
  statusPort: number;
  proc: BenchProcess;
  ca: BenchCa;
  good: BenchLeaf;
  /** From the right CA, with a SAN outside the allow-list. */
  outsider: BenchLeaf;
  state(): Promise<TlsTargetState>;
  stop(): Promise<void>;
}

export async function startTlsTarget(): Promise<TlsTarget> {
  const ca = await createBenchCa('soak root R');
  const [server, good, outsider] = await Promise.all([
    issueBenchLeaf(ca, { commonName: SERVER_NAME, dns: [SERVER_NAME], usage: 'server' }),
    issueBenchLeaf(ca, { commonName: 'egress', dns: [ALLOWED_SAN], usage: 'client' }),
    issueBenchLeaf(ca, { commonName: 'intruder', dns: ['intruder.example'], usage: 'client' }),
  ]);
  const dir = await mkdtemp(path.join(tmpdir(), 'meshgate-soak-tls-'));
  const cfg: TlsTargetConfig = {
    serverName: SERVER_NAME,
    certPem: server.certPem,
    keyPem: server.keyPem,
    caPem: ca.certPem,
    allowedSans: [ALLOWED_SAN],
    timeout: `${TARGET_TIMEOUT_MS / 1000}s`,
  };
  const cfgFile = path.join(dir, 'target.json');
  await writeFile(cfgFile, JSON.stringify(cfg), { mode: 0o600 });
  const group = new ProcessGroup();
  try {
    const { proc, ready } = await startJsonReady<{ host: string; port: number; statusPort: number }>(group, 'tls target', [
      ...soakScript('hostile/tls-target'),
      cfgFile,
    ]);
    return {
      host: ready.host,
      port: ready.port,
      statusPort: ready.statusPort,
      proc,
      ca,
      good,
      outsider,
      async state(): Promise<TlsTargetState> {
        const r = await fetch(`http://127.0.0.1:${ready.statusPort}/state`, { signal: AbortSignal.timeout(5000) });
        return (await r.json()) as TlsTargetState;
      },
      async stop(): Promise<void> {
        await group.stopAll();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await group.stopAll();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

// ------------------------------------------------------------------ raw-socket attacks

interface RawOutcome {
  /** The server closed or reset the connection (an alert may have come first). */
  closedByServer: boolean;
  /** A TLS alert record (content type 21) arrived. */
  alert: boolean;
  received: number;
  ms: number;
}

/**
 * Opens a TCP connection, runs `feed` (which writes the attack), and waits for the server to end it.
 * Resolves closedByServer=false when `limitMs` passes first (a hang); the socket is destroyed either way.
 */
function rawAttack(t: TlsTarget, feed: (s: net.Socket) => void | Promise<void>, limitMs: number): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = net.connect({ host: t.host, port: t.port });
    let received = 0;
    let alert = false;
    let done = false;
    const finish = (closedByServer: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ closedByServer, alert, received, ms: Date.now() - t0 });
    };
    const timer = setTimeout(() => finish(false), limitMs);
    s.on('data', (d: Buffer) => {
      if (received === 0 && d[0] === 21) alert = true;
      received += d.length;
    });
    s.on('end', () => finish(true));
    s.on('close', () => finish(true));
    s.on('error', (e: NodeJS.ErrnoException) => finish(e.code === 'ECONNRESET' || e.code === 'EPIPE'));
    s.once('connect', () => {
      Promise.resolve(feed(s)).catch(() => finish(true)); // a write failing means the server already closed
    });
  });
}

/** A real ClientHello (one TLS record), as Node's client sends it for our SNI. */
export function captureClientHello(opts: tls.ConnectionOptions = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((sock) => {
      let buf = Buffer.alloc(0);
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
          sock.destroy();
          server.close();
          resolve(buf.subarray(0, 5 + buf.readUInt16BE(3)));
        }
      });
      sock.on('error', () => sock.destroy()); // the client's reset after we hang up is expected
    });
    server.listen(0, '127.0.0.1', () => {
      const c = tls.connect({
        host: '127.0.0.1',
        port: (server.address() as net.AddressInfo).port,
        servername: SERVER_NAME,
        rejectUnauthorized: false,
        ...opts,
      });
      c.on('error', () => c.destroy()); // we never answer its hello
    });
    server.on('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `n` attacks, `concurrency` at a time; returns how many were handled and the first few failures. */
async function runMany(
  n: number,
  concurrency: number,
  one: (i: number) => Promise<{ ok: boolean; why?: string }>,
): Promise<{ tried: number; handled: number; failures: string[] }> {
  let next = 0;
  let handled = 0;
  const failures: string[] = [];
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const r = await one(i).catch((err: unknown) => ({ ok: false, why: (err as Error).message }));
      if (r.ok) handled++;
      else if (failures.length < 5) failures.push(`#${i}: ${r.why ?? 'not handled'}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, () => worker()));
  return { tried: n, handled, failures };
}

const refused = (o: RawOutcome): { ok: boolean; why?: string } =>
  o.closedByServer ? { ok: true } : { ok: false, why: `still open after ${o.ms} ms (a hang)` };

// ------------------------------------------------------------------ TLS clients

interface ClientOutcome {
  secure: boolean;
  echoed: number;
  error?: string;
  ms: number;
}

function tlsClient(t: TlsTarget, opts: tls.ConnectionOptions, payload: Buffer, limitMs: number): Promise<ClientOutcome> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let secure = false;
    let echoed = 0;
    let done = false;
    let s: tls.TLSSocket;
    const finish = (error?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ secure, echoed, ms: Date.now() - t0, ...(error ? { error } : {}) });
    };
    const timer = setTimeout(() => finish('timeout'), limitMs);
    try {
      s = tls.connect({ host: t.host, port: t.port, servername: SERVER_NAME, ca: t.ca.certPem, ...opts }, () => {
        secure = true;
        s.write(payload);
      });
    } catch (err) {
      // The client library refused these options before any byte was sent (e.g. no such cipher here).
      resolve({ secure: false, echoed: 0, ms: 0, error: `client: ${(err as Error).message}` });
      return;
    }
    s.on('data', (d: Buffer) => {
      echoed += d.length;
      if (echoed >= payload.length) finish();
    });
    s.on('error', (e: Error) => finish(e.message));
    s.on('close', () => finish(secure && echoed >= payload.length ? undefined : 'closed'));
  });
}

/** The good client: hello, proxied and echoed. Proves the target still serves. */
async function goodRoundTrip(t: TlsTarget): Promise<void> {
  const payload = randomBytes(4096);
  const r = await tlsClient(t, { cert: t.good.certPem, key: t.good.keyPem }, payload, 10_000);
  if (!r.secure || r.echoed < payload.length)
    throw new Error(`a good client was not served after the attacks: ${r.error ?? `echoed ${r.echoed}/${payload.length}`}`);
}

/** A TLS client attempt counts as refused when it never got a proxied byte back and ended in bounded time. */
const clientRefused = (o: ClientOutcome): { ok: boolean; why?: string } => {
  if (o.error === 'timeout') return { ok: false, why: 'no answer (a hang)' };
  if (o.echoed > 0) return { ok: false, why: `the attacker got ${o.echoed} proxied bytes` };
  return { ok: true };
};

// ------------------------------------------------------------------ the attacks

export interface TlsAttackSizes {
  truncated: number;
  garbage: number;
  oversized: number;
  renegotiation: number;
  slowloris: number;
  oldVersions: number;
  weakCiphers: number;
  outsideSan: number;
  neverReads: number;
  /** Bytes the never-reading client pushes. */
  neverReadsBytes: number;
}

export const QUICK_TLS: TlsAttackSizes = {
  truncated: 20,
  garbage: 20,
  oversized: 5,
  renegotiation: 3,
  slowloris: 20,
  oldVersions: 4,
  weakCiphers: 4,
  outsideSan: 5,
  neverReads: 1,
  neverReadsBytes: 16 << 20,
};
export const FULL_TLS: TlsAttackSizes = {
  truncated: 300,
  garbage: 300,
  oversized: 40,
  renegotiation: 20,
  slowloris: 400,
  oldVersions: 20,
  weakCiphers: 20,
  outsideSan: 50,
  neverReads: 4,
  neverReadsBytes: 64 << 20,
};

const WEAK_CIPHERS = [
  // Offered alone, each must fail: no proxy may agree to a null, anonymous, 3DES or RC4 suite.
  'ECDHE-ECDSA-NULL-SHA:@SECLEVEL=0',
  'AECDH-AES128-SHA:@SECLEVEL=0',
  'ECDHE-ECDSA-DES-CBC3-SHA:@SECLEVEL=0',
  'NULL-SHA256:@SECLEVEL=0',
  'RC4-SHA:@SECLEVEL=0',
  'DES-CBC3-SHA:@SECLEVEL=0',
];

export async function runTlsAttacks(report: SoakReport, sizes: TlsAttackSizes, log: (line: string) => void): Promise<void> {
  let target: TlsTarget;
  try {
    target = await startTlsTarget();
  } catch (err) {
    await report.check('hostile TLS: target proxy starts', 'a proxy with an mTLS listener starts for the attacks', () =>
      Promise.reject(err),
    );
    return;
  }
  try {
    await goodRoundTrip(target);
    const baseline = await target.state();
    const limit = TARGET_TIMEOUT_MS + MARGIN_MS;
    const hello = await captureClientHello();
    log(
      `TLS target on ${target.host}:${target.port} (pid ${target.proc.pid}), ClientHello ${hello.length} bytes, RSS ${(baseline.rssBytes / 2 ** 20).toFixed(0)} MiB`,
    );

    const families: [string, () => Promise<{ tried: number; handled: number; failures: string[] }>][] = [
      [
        'tls: truncated ClientHello',
        () =>
          runMany(sizes.truncated, 20, async (i) => {
            // Cut points spread over the whole record, header included; half of them also half-close.
            const cut = 1 + ((i * 7919) % (hello.length - 1));
            return refused(
              await rawAttack(
                target,
                (s) => {
                  s.write(hello.subarray(0, cut));
                  if (i % 2 === 1) s.end();
                },
                limit,
              ),
            );
          }),
      ],
      [
        'tls: garbage ClientHello',
        () =>
          runMany(sizes.garbage, 20, async (i) => {
            let bytes: Buffer;
            if (i % 3 === 0) bytes = randomBytes(1 + (i % 600));
            else if (i % 3 === 1) {
              // A record header claiming a handshake, then noise.
              const body = randomBytes(40 + (i % 400));
              bytes = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, body.length >> 8, body.length & 0xff]), body]);
            } else {
              // The real hello with bytes flipped inside it (lengths, extensions, SNI).
              bytes = Buffer.from(hello);
              for (let k = 0; k < 4; k++) bytes[5 + ((i * 131 + k * 977) % (hello.length - 5))]! ^= 0xff;
            }
            return refused(
              await rawAttack(
                target,
                (s) => {
                  s.write(bytes);
                },
                limit,
              ),
            );
          }),
      ],
      [
        'tls: oversized record',
        () =>
          runMany(sizes.oversized, 5, async (i) => {
            if (i % 2 === 1) return oversizedAfterHandshake(target, limit);
            // A record longer than TLS allows (2^14 + 2048), then up to 1 MiB of it: the inspector must not buffer it.
            const len = 0x4801 + ((i * 4099) % (0xffff - 0x4801));
            const header = Buffer.from([0x16, 0x03, 0x01, len >> 8, len & 0xff, 0x01]);
            return refused(
              await rawAttack(
                target,
                async (s) => {
                  s.write(header);
                  for (let k = 0; k < 16 && !s.destroyed; k++) {
                    if (!s.write(randomBytes(65536)))
                      await new Promise((r) => {
                        s.once('drain', r);
                        s.once('close', r);
                      });
                  }
                },
                limit,
              ),
            );
          }),
      ],
      ['tls: renegotiation', () => runMany(sizes.renegotiation, 3, async () => renegotiate(target))],
      [
        'tls: slowloris handshake',
        () =>
          runMany(sizes.slowloris, Math.min(sizes.slowloris, 100), async (i) => {
            // One byte of a real hello every 400 ms (or a whole hello and then silence): the timeout must end it.
            return refused(
              await rawAttack(
                target,
                async (s) => {
                  if (i % 2 === 1) {
                    s.write(hello);
                    return;
                  }
                  for (let k = 0; k < hello.length && !s.destroyed; k++) {
                    s.write(hello.subarray(k, k + 1));
                    await sleep(400);
                  }
                },
                limit,
              ),
            );
          }),
      ],
      [
        'tls: TLS 1.0/1.1 client',
        () =>
          runMany(sizes.oldVersions, 4, async (i) => {
            const v = i % 2 === 0 ? 'TLSv1' : 'TLSv1.1';
            return clientRefused(
              await tlsClient(
                target,
                { cert: target.good.certPem, key: target.good.keyPem, minVersion: v, maxVersion: v, ciphers: 'DEFAULT@SECLEVEL=0' },
                Buffer.from('old'),
                limit,
              ),
            );
          }),
      ],
      ['tls: weak cipher', () => weakCiphers(target, sizes.weakCiphers, limit, log)],
      [
        'tls: client cert SAN outside the allow-list',
        () =>
          runMany(sizes.outsideSan, 5, async () =>
            clientRefused(
              await tlsClient(target, { cert: target.outsider.certPem, key: target.outsider.keyPem }, Buffer.from('intruder'), limit),
            ),
          ),
      ],
      ['tls: client that never reads', () => runMany(sizes.neverReads, 1, async () => neverReads(target, sizes.neverReadsBytes))],
    ];
    for (const [family, run] of families) {
      const r = await run();
      if (r.failures.length > 0) log(`${family}: ${r.failures.join('; ')}`);
      report.badInput({ family, tried: r.tried, handled: r.handled });
      if (!isAlive(target.proc)) break;
    }

    await report.check(
      'hostile TLS: no crash, leak or hang',
      'after every attack the proxy process is alive, serves a good client, holds no session and its memory is bounded',
      async () => {
        if (!isAlive(target.proc)) throw new Error(`the target proxy died: ${target.proc.output()}`);
        await goodRoundTrip(target);
        const deadline = Date.now() + 10_000;
        let st = await target.state();
        while ((st.sessions > 0 || st.echoSockets > 0) && Date.now() < deadline) {
          await sleep(200);
          st = await target.state();
        }
        if (st.sessions > 0 || st.echoSockets > 0)
          throw new Error(`${st.sessions} proxied session(s) and ${st.echoSockets} upstream socket(s) still open 10 s after the attacks`);
        const growth = (st.rssBytes - baseline.rssBytes) / 2 ** 20;
        if (growth > 256) throw new Error(`RSS grew by ${growth.toFixed(0)} MiB during the attacks`);
        return `alive, good client served, 0 sessions, RSS ${(baseline.rssBytes / 2 ** 20).toFixed(0)} → ${(st.rssBytes / 2 ** 20).toFixed(0)} MiB; last refusal: ${st.warnings.at(-1) ?? '(none logged)'}`;
      },
    );
  } finally {
    await target.stop();
  }
}

/**
 * TLS 1.2 with a good certificate, then one client-initiated renegotiation. Envoy (BoringSSL) refuses
 * it outright (CVE-2011-1473: renegotiation is a cheap way to make a server do handshakes); so must
 * the proxy: handled when the first attempt fails or the connection ends before it completes.
 */
function renegotiate(t: TlsTarget): Promise<{ ok: boolean; why?: string }> {
  return new Promise((resolve) => {
    let settled = false;
    const s = tls.connect({
      host: t.host,
      port: t.port,
      servername: SERVER_NAME,
      ca: t.ca.certPem,
      cert: t.good.certPem,
      key: t.good.keyPem,
      maxVersion: 'TLSv1.2',
    });
    const done = (ok: boolean, why?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ ok, ...(why ? { why } : {}) });
    };
    const timer = setTimeout(() => done(false, 'no answer to a renegotiation attempt (a hang)'), TARGET_TIMEOUT_MS + MARGIN_MS);
    let connected = false;
    s.on('error', (e: Error) => done(connected, `a good client failed its first handshake: ${e.message}`));
    s.on('close', () => done(connected, 'closed before the first handshake completed'));
    s.once('secureConnect', () => {
      connected = true;
      const started = s.renegotiate({ rejectUnauthorized: true }, (err) => {
        if (err) return done(true);
        done(false, 'the proxy accepted a client-initiated renegotiation (Envoy refuses them; set SSL_OP_NO_RENEGOTIATION)');
      });
      if (!started) done(true);
    });
  });
}

async function weakCiphers(
  t: TlsTarget,
  n: number,
  limitMs: number,
  log: (line: string) => void,
): Promise<{ tried: number; handled: number; failures: string[] }> {
  // Only suites this machine's OpenSSL can offer count as tried; the rest are named in the log.
  const usable: string[] = [];
  for (const c of WEAK_CIPHERS) {
    try {
      tls.createSecureContext({ ciphers: c, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
      usable.push(c);
    } catch {
      log(`weak cipher ${c}: this OpenSSL cannot offer it; not tried`);
    }
  }
  if (usable.length === 0) return { tried: 0, handled: 0, failures: [] };
  return runMany(n, 4, async (i) => {
    const ciphers = usable[i % usable.length]!;
    const o = await tlsClient(
      t,
      { cert: t.good.certPem, key: t.good.keyPem, ciphers, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' },
      Buffer.from('weak'),
      limitMs,
    );
    if (o.secure) return { ok: false, why: `the proxy negotiated ${ciphers}` };
    return clientRefused(o);
  });
}

/**
 * A good client completes the handshake, then writes, under its TLS layer, an application-data record
 * header claiming 0xFFFF bytes (more than the 2^14 + 256 TLS 1.3 allows) and 64 KiB of it: the proxy's
 * TLS layer must end the connection (record_overflow), not wait for or buffer the rest.
 */
function oversizedAfterHandshake(t: TlsTarget, limitMs: number): Promise<{ ok: boolean; why?: string }> {
  return new Promise((resolve) => {
    const raw = net.connect({ host: t.host, port: t.port });
    let settled = false;
    const done = (ok: boolean, why?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      raw.destroy();
      resolve({ ok, ...(why ? { why } : {}) });
    };
    const timer = setTimeout(() => done(false, 'still open after an oversized record (a hang)'), limitMs + 5000);
    raw.on('error', () => done(true)); // reset by the proxy: refused
    raw.once('connect', () => {
      const s = tls.connect({ socket: raw, servername: SERVER_NAME, ca: t.ca.certPem, cert: t.good.certPem, key: t.good.keyPem });
      s.on('error', () => done(true)); // the alert the proxy sends surfaces here
      s.on('close', () => done(true));
      s.once('secureConnect', () => {
        raw.write(Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0xff, 0xff]), randomBytes(65536)]));
      });
    });
    raw.on('close', () => done(true));
  });
}

/** A good client that writes `bytes` and never reads: the proxy must hold a bounded buffer, not the lot. */
async function neverReads(t: TlsTarget, bytes: number): Promise<{ ok: boolean; why?: string }> {
  const s = tls.connect({
    host: t.host,
    port: t.port,
    servername: SERVER_NAME,
    ca: t.ca.certPem,
    cert: t.good.certPem,
    key: t.good.keyPem,
  });
  s.on('error', () => s.destroy()); // ended by us or by the proxy; the verdict is the buffer size below
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('secureConnect', () => resolve());
      s.once('error', reject);
    });
    s.pause(); // never read: what the echo sends back piles up in the proxy unless it stops reading
    const chunk = randomBytes(256 * 1024);
    let written = 0;
    let maxBuffered = 0;
    const deadline = Date.now() + 20_000;
    // Write until the socket stops taking data (the chain is full) or we sent `bytes`.
    while (written < bytes && Date.now() < deadline && !s.destroyed) {
      if (s.write(chunk)) {
        written += chunk.length;
        continue;
      }
      written += chunk.length;
      const drained = await Promise.race([new Promise<boolean>((r) => s.once('drain', () => r(true))), sleep(1500).then(() => false)]);
      const st = await t.state();
      maxBuffered = Math.max(maxBuffered, st.bufferedBytes);
      if (!drained) break;
    }
    const st = await t.state();
    maxBuffered = Math.max(maxBuffered, st.bufferedBytes);
    // The proxy may buffer about two high-water marks per direction; 16 MiB is far above that and far below "all of it".
    if (maxBuffered > 16 << 20)
      return { ok: false, why: `the proxy buffered ${(maxBuffered / 2 ** 20).toFixed(1)} MiB for a client that never reads` };
    return {
      ok: true,
      why: `wrote ${(written / 2 ** 20).toFixed(1)} MiB, proxy buffered at most ${(maxBuffered / 2 ** 20).toFixed(2)} MiB`,
    };
  } finally {
    s.destroy();
  }
}
