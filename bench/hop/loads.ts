// The single-hop load's clients, run in the benchmark process: every connection is TLS 1.3 with the
// client sidecar's mesh-A certificate and SNI mysql.fqdn.example, as the egress gateway sees it.
// The first byte tells the sink what to do (sink.ts).
import tls from 'node:tls';
import { destroyAll } from '../loads/idle.js';
import { HOP_HIGH_WATER_MARK } from './setup.js';

export interface HopClientTls {
  host: string;
  port: number;
  servername: string;
  certPem: string;
  keyPem: string;
  caPem: string;
}

export class HopLoadError extends Error {
  readonly code = 'E_BENCH_HOP_LOAD';
}

const CHUNK = Buffer.alloc(HOP_HIGH_WATER_MARK, 0x61);
const ECHO = Buffer.from('Emeshgate-hop-16'); // 'E' + 15 bytes: the whole 16 bytes come back after the mode byte
const ECHO_REPLY = ECHO.length - 1;

/** A client's TLS context and the last session it got, resumed on its next connection as a sidecar does. */
export interface ClientContext {
  secureContext: tls.SecureContext;
  session: Buffer | undefined;
}

function connect(t: HopClientTls, c: ClientContext): tls.TLSSocket {
  const s = tls.connect({
    host: t.host,
    port: t.port,
    servername: t.servername,
    secureContext: c.secureContext,
    session: c.session,
    minVersion: 'TLSv1.3',
    highWaterMark: HOP_HIGH_WATER_MARK,
    allowHalfOpen: true,
  } as tls.ConnectionOptions);
  s.on('session', (b: Buffer) => {
    c.session = b;
  });
  return s;
}

export function clientContext(t: HopClientTls): ClientContext {
  return {
    secureContext: tls.createSecureContext({ cert: t.certPem, key: t.keyPem, ca: t.caPem, minVersion: 'TLSv1.3' }),
    session: undefined,
  };
}

/** Upload: writes for `seconds`, ends, and returns the bytes the sink counted. */
export function bulkUpload(t: HopClientTls, seconds: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = connect(t, clientContext(t));
    const reply: Buffer[] = [];
    let stop = false;
    const timer = setTimeout(() => {
      stop = true;
      s.end();
    }, seconds * 1000);
    const pump = (): void => {
      while (!stop && s.write(CHUNK));
    };
    s.once('secureConnect', () => {
      s.write('U');
      pump();
    });
    s.on('drain', pump);
    s.on('data', (d: Buffer) => reply.push(d));
    s.on('end', () => {
      const b = Buffer.concat(reply);
      s.destroy();
      if (b.length < 8) reject(new HopLoadError('the sink did not report a byte count'));
      else resolve(Number(b.readBigUInt64BE(0)));
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(new HopLoadError(`upload: ${err.message}`));
    });
  });
}

/** Download: reads for `seconds` what the sink sends, then closes; returns the bytes read. */
export function bulkDownload(t: HopClientTls, seconds: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = connect(t, clientContext(t));
    let n = 0;
    let timer: NodeJS.Timeout | undefined;
    s.once('secureConnect', () => {
      s.write('D');
      timer = setTimeout(() => {
        s.destroy();
        resolve(n);
      }, seconds * 1000);
    });
    s.on('data', (d: Buffer) => {
      n += d.length;
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(new HopLoadError(`download: ${err.message}`));
    });
  });
}

/** Opens one connection and proves it reaches the sink with a 16-byte echo; resolves with the socket. */
export function echoConnection(t: HopClientTls, context: ClientContext, timeoutMs = 10_000): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect(t, context);
    let got = 0;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new HopLoadError(`no echo within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('secureConnect', () => s.write(ECHO));
    const onData = (d: Buffer): void => {
      got += d.length;
      if (got >= ECHO_REPLY) {
        clearTimeout(timer);
        s.off('data', onData);
        resolve(s);
      }
    };
    s.on('data', onData);
    s.on('error', (err) => {
      clearTimeout(timer);
      s.destroy();
      reject(new HopLoadError(err.message));
    });
  });
}

/** Churn: `connections` new TLS connections, `concurrency` at a time, each echo then close. */
export async function hopChurn(t: HopClientTls, connections: number, concurrency: number): Promise<{ ok: number; failures: number }> {
  const context = clientContext(t);
  let next = 0;
  let ok = 0;
  let failures = 0;
  const worker = async (): Promise<void> => {
    while (next < connections) {
      next++;
      try {
        const s = await echoConnection(t, context);
        await new Promise<void>((resolve) => {
          s.once('close', () => resolve());
          s.end();
          s.destroy();
        });
        ok++;
      } catch {
        failures++; // counted; one failed connection must not stop the run
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  return { ok, failures };
}

/** Idle: `count` connections opened (each proven with an echo) and held; `release()` closes them. */
export async function hopIdle(
  t: HopClientTls,
  count: number,
  concurrency: number,
): Promise<{ held: number; failures: number; release(): Promise<void> }> {
  const context = clientContext(t);
  const held: tls.TLSSocket[] = [];
  let next = 0;
  let failures = 0;
  const worker = async (): Promise<void> => {
    while (next < count && failures < 50) {
      next++;
      try {
        held.push(await echoConnection(t, context, 15_000));
      } catch {
        failures++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  return {
    held: held.length,
    failures,
    async release(): Promise<void> {
      await destroyAll(held);
    },
  };
}
