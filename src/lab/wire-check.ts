// The wire check: tcpdump on every link between two namespaces (netns mode: every veth port on the
// lab's bridges and the WAN) or on lo limited to the lab's 127.b.0.0/16 (loopback mode), then a search
// of every TCP flow between two pods for text that must never appear in clear.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { terminateChild } from './child-exit.js';
import { tcpFlowsFromPcap, type TcpFlowData } from './pcap.js';

export class WireCheckError extends Error {
  constructor(
    readonly code: 'E_WIRE_CHECK',
    message: string,
  ) {
    super(message);
    this.name = 'WireCheckError';
  }
}

export interface WireCaptureTarget {
  mode: 'netns' | 'loopback';
  /** netns mode: the namespaces holding the bridges (clusters and WAN). */
  bridgeNetns: string[];
  /** loopback mode: the lab's block on lo. */
  loopbackNet: string;
}

export interface WireCapture {
  /** Every link watched, as `netns/dev` or `lo`. */
  links: string[];
  pids: number[];
  stop(): Promise<Map<string, TcpFlowData>>;
}

export function tcpdumpAvailable(): { ok: boolean; reason?: string } {
  const r = spawnSync('tcpdump', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return { ok: false, reason: 'tcpdump is not installed (apt-get install tcpdump)' };
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    return { ok: false, reason: 'capturing packets needs root (or CAP_NET_RAW on tcpdump)' };
  return { ok: true };
}

function linksIn(netns: string): string[] {
  const r = spawnSync('ip', ['-n', netns, '-o', 'link', 'show'], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split('\n')
    .map((l) => /^\d+:\s+([^:@]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined && n !== 'lo' && n !== 'br0')
    .map((n) => `${netns}/${n}`);
}

function startTcpdump(argv: string[], file: string, filter = 'tcp'): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, [...argv.slice(1), '--immediate-mode', '-U', '-n', '-s', '0', '-w', file, filter], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    const timer = setTimeout(() => reject(new WireCheckError('E_WIRE_CHECK', `tcpdump did not start: ${err.trim()}`)), 15_000);
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (/listening on/.test(err)) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new WireCheckError('E_WIRE_CHECK', `tcpdump exited (${code}): ${err.trim()}`));
    });
  });
}

/**
 * "listening on" from tcpdump does not prove packets reach the file yet (seen on a loaded machine), and
 * SIGTERM does not wait for packets the kernel holds but tcpdump has not read. Both are settled the same
 * way: send one connection carrying a unique marker inside the watched block and wait until the marker is
 * in the capture file. tcpdump writes packets in the order it reads them, so once the marker is there,
 * everything sent before it is there too.
 */
function probeHost(loopbackNet: string): string {
  const [a, b] = loopbackNet.split('.');
  return `${a}.${b}.255.254`;
}

/** Whether the bytes of `file` from `from` on contain `marker` (a capture can be large: only its tail is read). */
function tailIncludes(file: string, from: number, marker: string): boolean {
  const size = statSync(file, { throwIfNoEntry: false })?.size ?? 0;
  if (size <= from) return false;
  const buf = Buffer.allocUnsafe(size - from);
  const fd = openSync(file, 'r');
  try {
    const n = readSync(fd, buf, 0, buf.length, from);
    return buf.subarray(0, n).includes(marker);
  } finally {
    closeSync(fd);
  }
}

async function probeUntilCaptured(file: string, loopbackNet: string, what: string): Promise<void> {
  const host = probeHost(loopbackNet);
  const marker = `meshgate-wire-probe-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const server = net.createServer((s) => {
    s.resume();
    s.end();
  }); // resume: read the probe and its FIN so the socket closes
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, host, resolve));
  try {
    const port = (server.address() as net.AddressInfo).port;
    const deadline = Date.now() + 15_000;
    const from = statSync(file, { throwIfNoEntry: false })?.size ?? 0;
    while (Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const c = net.connect({ host, port }, () => c.end(marker));
        c.on('close', () => resolve()).on('error', () => resolve());
      });
      for (let i = 0; i < 5 && Date.now() < deadline; i++) {
        await new Promise((r) => setTimeout(r, 100));
        if (tailIncludes(file, from, marker)) return;
      }
    }
    throw new WireCheckError('E_WIRE_CHECK', `tcpdump on lo did not capture the probe ${what} within 15 s (${file})`);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
}

async function untilQuiet(files: string[]): Promise<void> {
  const sizes = () => files.map((f) => statSync(f, { throwIfNoEntry: false })?.size ?? 0).join(',');
  const deadline = Date.now() + 5_000;
  let last = sizes();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    const now = sizes();
    if (now === last) return;
    last = now;
  }
}

/** Starts capturing; pcap files go to `dir`. */
export async function startWireCapture(target: WireCaptureTarget, dir: string): Promise<WireCapture> {
  const avail = tcpdumpAvailable();
  if (!avail.ok) throw new WireCheckError('E_WIRE_CHECK', avail.reason!);
  const children: ChildProcess[] = [];
  const files: string[] = [];
  const links: string[] = [];
  try {
    if (target.mode === 'netns') {
      for (const ns of target.bridgeNetns) {
        const file = path.join(dir, `wire-${ns}.pcap`);
        // -i any inside the bridge namespace: every veth port of that bridge in one capture.
        children.push(await startTcpdump(['ip', 'netns', 'exec', ns, 'tcpdump', '-i', 'any'], file));
        files.push(file);
        links.push(...linksIn(ns));
      }
    } else {
      const file = path.join(dir, 'wire-lo.pcap');
      // Only the lab's block: lo also carries everything else this machine does.
      const child = await startTcpdump(['tcpdump', '-i', 'lo'], file, `tcp and net ${target.loopbackNet}`);
      children.push(child);
      files.push(file);
      links.push('lo');
      await probeUntilCaptured(file, target.loopbackNet, 'at start');
    }
  } catch (err) {
    await Promise.all(children.map((c) => terminateChild(c, 3_000)));
    throw err;
  }
  const probe = target.mode === 'loopback' ? probeHost(target.loopbackNet) : undefined;
  let stopped: Promise<Map<string, TcpFlowData>> | undefined;
  const stop = async (): Promise<Map<string, TcpFlowData>> => {
    // Loopback: every packet sent before stop() is in the file before tcpdump is told to exit.
    // SIGTERM then makes tcpdump flush and close its file.
    // Namespaces have no probe host of the check's own: wait until no file has grown for 200 ms.
    if (target.mode === 'loopback') await probeUntilCaptured(files[0]!, target.loopbackNet, 'at stop');
    else await untilQuiet(files);
    await Promise.all(children.map((c) => terminateChild(c, 5_000)));
    const flows = new Map<string, TcpFlowData>();
    for (const f of files) {
      for (const [k, v] of tcpFlowsFromPcap(readFileSync(f))) {
        if (probe && k.includes(`${probe}:`)) continue; // the probes are not the lab's traffic
        const prev = flows.get(k);
        if (!prev || prev.payload.length < v.payload.length) flows.set(k, v);
      }
    }
    return flows;
  };
  // Idempotent: a test's cleanup may call it again after the files are gone.
  return { links, pids: children.map((c) => c.pid!), stop: () => (stopped ??= stop()) };
}

/** Flows whose payload contains any of `needles`, naming the flow and the needle found. */
export function findPlaintext(
  flows: Map<string, TcpFlowData>,
  needles: string[],
  include: (f: TcpFlowData) => boolean = () => true,
): { flow: string; needle: string }[] {
  const found: { flow: string; needle: string }[] = [];
  for (const [key, f] of flows) {
    if (!include(f)) continue;
    for (const n of needles) if (f.payload.includes(n)) found.push({ flow: key, needle: n });
  }
  return found;
}
