// Bulk throughput: iperf3, one stream, one direction per run (`reverse` sends server → client), its JSON
// report parsed for the bytes the receiver got.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface IperfResult {
  bytes: number;
  seconds: number;
  megabytesPerSecond: number;
}

export class IperfError extends Error {
  readonly code = 'E_BENCH_IPERF';
}

export function parseIperfJson(text: string): IperfResult {
  let doc: { end?: { sum_received?: { bytes?: number; seconds?: number } }; error?: string };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    throw new IperfError(`iperf3 printed no JSON report: ${text.slice(0, 300)}`);
  }
  if (doc.error) throw new IperfError(`iperf3: ${doc.error}`);
  const r = doc.end?.sum_received;
  if (!r || typeof r.bytes !== 'number' || typeof r.seconds !== 'number' || r.seconds <= 0) {
    throw new IperfError('iperf3 report has no end.sum_received bytes/seconds');
  }
  return { bytes: r.bytes, seconds: r.seconds, megabytesPerSecond: r.bytes / 1e6 / r.seconds };
}

export async function runIperf(opts: { host: string; port: number; seconds: number; reverse: boolean }): Promise<IperfResult> {
  const args = ['-c', opts.host, '-p', String(opts.port), '-t', String(opts.seconds), '-P', '1', '-J', '--connect-timeout', '5000'];
  if (opts.reverse) args.push('-R');
  try {
    const { stdout } = await execFileP('iperf3', args, { timeout: (opts.seconds + 20) * 1000, maxBuffer: 16 << 20 });
    return parseIperfJson(stdout);
  } catch (err) {
    const e = err as { stdout?: string; message: string };
    if (e.stdout) return parseIperfJson(e.stdout);
    throw new IperfError(`iperf3 ${args.join(' ')}: ${e.message}`);
  }
}
