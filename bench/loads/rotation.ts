// Rotation: how long after a gateway credential changes on disk a new connection is served with it, and
// how many queries fail meanwhile. A TLS probe (with a client certificate from the same root) reads the
// serial the gateway presents, handshaking back to back after each change; a query loop runs through the
// whole chain, one new connection per query. Several credentials are rotated per run, one after another.
import { execFile } from 'node:child_process';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { normalizeSerial } from '../certs.js';
import { median } from '../stats.js';

const execFileP = promisify(execFile);

export interface TlsProbe {
  host: string;
  port: number;
  servername: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** Connects with TLS 1.3 and mutual auth and returns the serial of the certificate the server presents. */
export function presentedSerial(p: TlsProbe, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host: p.host,
      port: p.port,
      servername: p.servername,
      ca: p.caPem,
      cert: p.certPem,
      key: p.keyPem,
      minVersion: 'TLSv1.3',
      // A fresh session every time: a resumed session would not show a new certificate.
      session: undefined,
    });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`TLS probe ${p.host}:${p.port}: no handshake within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('secureConnect', () => {
      clearTimeout(timer);
      const serial = normalizeSerial(s.getPeerCertificate().serialNumber ?? '');
      s.destroy();
      resolve(serial);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export interface RotationResult {
  /** Median over the rotations of `rotationsMs`; NaN if any rotation was never seen. */
  rotationMs: number;
  /** Each rotation: ms from the credential file being replaced (the write of an issued credential starts) to the first handshake presenting the new serial; NaN if never. */
  rotationsMs: number[];
  /** Handshakes the probe made per rotation until it saw the new serial (the figure's resolution is one handshake). */
  probes: number[];
  queries: number;
  failedQueries: number;
}

export interface QueryTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

/** One query on a new connection with the unmodified `mariadb` client; resolves false on any failure. */
async function queryOnce(t: QueryTarget): Promise<boolean> {
  try {
    const { stdout } = await execFileP(
      'mariadb',
      [
        '--protocol=TCP',
        '-h',
        t.host,
        '-P',
        String(t.port),
        `-u${t.user}`,
        `-p${t.password}`,
        '--skip-ssl',
        '--connect-timeout=5',
        '-N',
        '-B',
        '-e',
        'SELECT 1',
        t.database,
      ],
      { timeout: 10_000 },
    );
    return stdout.trim() === '1';
  } catch {
    return false; // counted as a failed query by the caller
  }
}

/** A new credential issued but not yet in place: `replace()` puts it on disk, the moment measured from. */
export interface PreparedCredential {
  serial: string;
  replace(): Promise<void>;
}

/** A chain's rotation hook. Issuing the credential (key generation, signing) is the operator's work, done before the clock starts. */
export interface RotationHook {
  probe: TlsProbe;
  prepare(): Promise<PreparedCredential>;
}

/**
 * Rotates the credential `rotations` times while a query loop runs through the whole chain. After each
 * replacement the probe handshakes back to back (no pause between attempts), so the figure is late by at
 * most one handshake, not by a polling period.
 */
export async function measureRotation(opts: {
  probe: TlsProbe;
  query: QueryTarget;
  prepare: RotationHook['prepare'];
  /** Credentials rotated one after another; the figure is their median. */
  rotations: number;
  timeoutMs?: number;
  /** Queries keep running this long after the last new serial is seen. */
  settleMs?: number;
}): Promise<RotationResult> {
  let queries = 0;
  let failedQueries = 0;
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      queries++;
      if (!(await queryOnce(opts.query))) failedQueries++;
    }
  })();
  const rotationsMs: number[] = [];
  const probes: number[] = [];
  try {
    for (let i = 0; i < opts.rotations; i++) {
      const next = await opts.prepare();
      // Queries run on the settled chain for a while before each change.
      await new Promise((r) => setTimeout(r, 500));
      const t0 = performance.now();
      await next.replace();
      const deadline = t0 + (opts.timeoutMs ?? 30_000);
      let rotationMs = Number.NaN;
      let n = 0;
      while (performance.now() < deadline) {
        let serial = '';
        n++;
        try {
          serial = await presentedSerial(opts.probe);
        } catch {
          serial = ''; // a failed probe handshake is retried; the query loop counts real failures
        }
        if (serial === next.serial) {
          rotationMs = performance.now() - t0;
          break;
        }
        // An error answered at once (the listener briefly refusing) is not retried in a tight loop.
        if (serial === '') await new Promise((r) => setTimeout(r, 5));
      }
      rotationsMs.push(rotationMs);
      probes.push(n);
      if (!Number.isFinite(rotationMs)) break;
    }
    await new Promise((r) => setTimeout(r, opts.settleMs ?? 1000));
    const rotationMs = rotationsMs.some((ms) => !Number.isFinite(ms)) ? Number.NaN : median(rotationsMs);
    return { rotationMs, rotationsMs, probes, queries, failedQueries };
  } finally {
    stop = true;
    await loop;
  }
}
