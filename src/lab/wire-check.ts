// The wire check: tcpdump on every link between two namespaces (netns mode: every veth port on the
// lab's bridges and the WAN) or on lo limited to the lab's 127.b.0.0/16 (loopback mode), then a search
// of every TCP flow between two pods for text that must never appear in clear.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
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
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return { ok: false, reason: 'capturing packets needs root (or CAP_NET_RAW on tcpdump)' };
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
    const child = spawn(argv[0]!, [...argv.slice(1), '--immediate-mode', '-U', '-n', '-s', '0', '-w', file, filter], { stdio: ['ignore', 'ignore', 'pipe'] });
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
 * "listening on" from tcpdump does not prove packets reach the file yet (seen on a loaded machine):
 * send one connection inside the watched block and wait until the capture file grows past its header.
 */
function probeHost(loopbackNet: string): string {
  const [a, b] = loopbackNet.split('.');
  return `${a}.${b}.255.254`;
}

async function provenLive(file: string, loopbackNet: string): Promise<void> {
  const host = probeHost(loopbackNet);
  const server = net.createServer((s) => { s.resume(); s.end(); }); // resume: read the probe and its FIN so the socket closes
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, host, resolve));
  try {
    const port = (server.address() as net.AddressInfo).port;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const c = net.connect({ host, port }, () => c.end('meshgate-wire-probe'));
        c.on('close', () => resolve()).on('error', () => resolve());
      });
      await new Promise((r) => setTimeout(r, 100));
      if ((statSync(file, { throwIfNoEntry: false })?.size ?? 0) > 24) return; // 24 bytes: the pcap file header
    }
    throw new WireCheckError('E_WIRE_CHECK', `tcpdump on lo captured nothing within 10 s (${file})`);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
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
      await provenLive(file, target.loopbackNet);
    }
  } catch (err) {
    await Promise.all(children.map((c) => terminateChild(c, 3_000)));
    throw err;
  }
  const probe = target.mode === 'loopback' ? probeHost(target.loopbackNet) : undefined;
  let stopped: Promise<Map<string, TcpFlowData>> | undefined;
  const stop = async (): Promise<Map<string, TcpFlowData>> => {
    // SIGTERM makes tcpdump flush and close its file; --immediate-mode above means no packet is still
    // waiting in a kernel ring block when it does.
    await Promise.all(children.map((c) => terminateChild(c, 5_000)));
    const flows = new Map<string, TcpFlowData>();
    for (const f of files) {
      for (const [k, v] of tcpFlowsFromPcap(readFileSync(f))) {
        if (probe && k.includes(`${probe}:`)) continue; // provenLive's own connections are not the lab's traffic
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
export function findPlaintext(flows: Map<string, TcpFlowData>, needles: string[], include: (f: TcpFlowData) => boolean = () => true): { flow: string; needle: string }[] {
  const found: { flow: string; needle: string }[] = [];
  for (const [key, f] of flows) {
    if (!include(f)) continue;
    for (const n of needles) if (f.payload.includes(n)) found.push({ flow: key, needle: n });
  }
  return found;
}
