// Connection churn: N connections, `concurrency` at a time, each connect + 16-byte echo + close, through
// whatever is at `target` (an echo server at the far end). Reports connections/s and latency percentiles.
import net from 'node:net';
import { percentile } from '../stats.js';

export interface ChurnResult {
  connections: number;
  failures: number;
  seconds: number;
  connsPerSecond: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

const PAYLOAD = Buffer.from('meshgate-bench16'); // 16 bytes

function oneConnection(host: string, port: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const s = net.connect({ host, port });
    let got = 0;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no echo within ${timeoutMs} ms`));
    }, timeoutMs);
    s.setNoDelay(true);
    s.once('connect', () => s.write(PAYLOAD));
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= PAYLOAD.length) {
        clearTimeout(timer);
        s.end();
        s.destroy();
        resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    s.once('close', () => {
      clearTimeout(timer);
      if (got < PAYLOAD.length) reject(new Error('closed before the echo'));
    });
  });
}

export async function runChurn(opts: {
  host: string;
  port: number;
  connections: number;
  concurrency?: number;
  timeoutMs?: number;
  maxSeconds?: number;
}): Promise<ChurnResult> {
  const concurrency = opts.concurrency ?? 16;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const deadline = Date.now() + (opts.maxSeconds ?? 120) * 1000;
  const latencies: number[] = [];
  let next = 0;
  let failures = 0;
  const t0 = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    while (next < opts.connections && Date.now() < deadline) {
      next++;
      try {
        latencies.push(await oneConnection(opts.host, opts.port, timeoutMs));
      } catch {
        failures++; // counted and reported; one failed connection must not stop the run
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    connections: latencies.length,
    failures,
    seconds,
    connsPerSecond: latencies.length / seconds,
    p50Ms: percentile(sorted, 50),
    p95Ms: percentile(sorted, 95),
    p99Ms: percentile(sorted, 99),
  };
}
