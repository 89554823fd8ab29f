// Idle scale: open N connections through a chain to an echo backend, prove each reaches the far end with
// a 16-byte echo, then hold them idle while the proxies' memory is read. `release()` closes them all.
import net from 'node:net';

export interface IdleConnections {
  established: number;
  failures: number;
  release(): Promise<void>;
}

const PAYLOAD = Buffer.from('meshgate-idle-16');

function openOne(host: string, port: number, timeoutMs: number, held: net.Socket[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    let got = 0;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no echo within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('connect', () => s.write(PAYLOAD));
    const onData = (d: Buffer): void => {
      got += d.length;
      if (got >= PAYLOAD.length) {
        clearTimeout(timer);
        s.off('data', onData);
        held.push(s);
        resolve();
      }
    };
    s.on('data', onData);
    s.on('error', (err) => {
      clearTimeout(timer);
      s.destroy();
      reject(err);
    });
  });
}

export async function openIdleConnections(opts: {
  host: string;
  port: number;
  count: number;
  concurrency?: number;
  timeoutMs?: number;
  maxSeconds?: number;
}): Promise<IdleConnections> {
  const held: net.Socket[] = [];
  const deadline = Date.now() + (opts.maxSeconds ?? 300) * 1000;
  let next = 0;
  let failures = 0;
  const worker = async (): Promise<void> => {
    while (next < opts.count && Date.now() < deadline && failures < 100) {
      next++;
      try {
        await openOne(opts.host, opts.port, opts.timeoutMs ?? 15_000, held);
      } catch {
        failures++; // reported; the run goes on with the connections that did open
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 32 }, () => worker()));
  return {
    established: held.length,
    failures,
    async release(): Promise<void> {
      await destroyAll(held);
    },
  };
}

/** Destroys every socket in `held` and empties it, resolving once each has closed. */
export async function destroyAll(held: net.Socket[]): Promise<void> {
  await Promise.all(
    held.map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.destroyed) return resolve();
          s.once('close', () => resolve());
          s.destroy();
        }),
    ),
  );
  held.length = 0;
}
