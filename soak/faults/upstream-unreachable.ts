// Fault: one endpoint of a service unreachable. A ServiceEntry with two static endpoints (an echo server
// and a "tarpit": a listening socket whose accept queue is full, so the kernel drops SYNs and a connect
// can only time out) and a DestinationRule with a 1 s connect timeout and outlier detection are added to
// cluster A's config folder. Connections through the client sidecar: those sent to the tarpit must fail
// after about the connect timeout (not the OS's minutes), the tarpit must be ejected, and from then on
// every connection must reach the healthy endpoint.
import { spawn, type ChildProcess } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startEchoServer } from '../../bench/backends.js';
import { freePorts } from '../../bench/ports.js';
import { HeldConnections } from '../held-connections.js';
import { getText, type SoakChain } from '../lab-chain.js';
import type { SoakReport } from '../results.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const HOST = 'tarpit.soak.example';
const PORT = 7001;
const CONNECT_TIMEOUT_MS = 1000;

/** A listener that never accepts, with its queue filled by its own connections: further SYNs are dropped. */
function startTarpit(host: string, port: number): Promise<ChildProcess> {
  const code = [
    'import socket, sys, time',
    's = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
    `s.bind((${JSON.stringify(host)}, ${port})); s.listen(0)`,
    'held = []',
    'for _ in range(4):',
    '    c = socket.socket(); c.setblocking(False)',
    `    try: c.connect((${JSON.stringify(host)}, ${port}))`,
    '    except BlockingIOError: pass',
    '    held.append(c)',
    'time.sleep(1); print("ready", flush=True); time.sleep(3600)',
  ].join('\n');
  const child = spawn('python3', ['-c', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the tarpit did not start within 10 s')), 10_000);
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (c) => {
      clearTimeout(timer);
      reject(new Error(`the tarpit exited (${c}) before it was ready`));
    });
    child.once('error', reject);
  });
}

function config(echo: { host: string; port: number }, tarpit: { host: string; port: number }): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: soak-tarpit, namespace: default}
spec:
  hosts: [${HOST}]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports:
  - {number: ${PORT}, name: tcp-soak, protocol: TCP}
  endpoints:
  - {address: ${echo.host}, ports: {tcp-soak: ${echo.port}}}
  - {address: ${tarpit.host}, ports: {tcp-soak: ${tarpit.port}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: soak-tarpit, namespace: default}
spec:
  host: ${HOST}
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    connectionPool: {tcp: {connectTimeout: ${CONNECT_TIMEOUT_MS}ms}}
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 120s, maxEjectionPercent: 100}
`;
}

export async function upstreamUnreachable(report: SoakReport, chain: SoakChain): Promise<void> {
  await report.check(
    'fault: upstream endpoint unreachable',
    `connects to the dead endpoint fail after the ${CONNECT_TIMEOUT_MS} ms connect timeout; outlier detection ejects it; every later connection reaches the healthy endpoint`,
    async () => {
      const [echoPort, tarpitPort] = await freePorts(2);
      const echo = await startEchoServer('127.0.0.1', echoPort!);
      let tarpit: ChildProcess | undefined;
      const file = path.join(chain.configDir('cluster-a'), 'soak-tarpit.yaml');
      try {
        tarpit = await startTarpit('127.0.0.1', tarpitPort!);
        await writeFile(file, config({ host: '127.0.0.1', port: echoPort! }, { host: '127.0.0.1', port: tarpitPort! }));
        const client = chain.proxies[0]!;
        const target = { host: chain.target.host, port: PORT };
        // Wait for the listener to appear on the client sidecar.
        const deadline = Date.now() + 30_000;
        for (;;) {
          const dump = await getText(`${client.adminUrl}/config_dump`).catch(() => '');
          if (dump.includes(HOST) && dump.includes(`${PORT}`)) break;
          if (Date.now() > deadline) throw new Error(`the client sidecar never got the ${HOST} config (30 s)`);
          await sleep(250);
        }
        await sleep(500);
        const attempts: { ok: boolean; ms: number; error?: string }[] = [];
        for (let i = 0; i < 16; i++) {
          const h = new HeldConnections(target);
          const t0 = Date.now();
          const r = await h.open(1, { concurrency: 1, timeoutMs: 15_000 });
          attempts.push({ ok: r.opened === 1, ms: Date.now() - t0, ...(h.openErrors[0] ? { error: h.openErrors[0] } : {}) });
          await h.closeAll();
        }
        const failed = attempts.filter((a) => !a.ok);
        const lateFailures = attempts.slice(8).filter((a) => !a.ok).length;
        const stats = await getText(`${client.adminUrl}/stats/prometheus`).catch((e: Error) => `(stats: ${e.message})`);
        const ejections = [...stats.matchAll(/^meshgate_proxy_outlier_ejections_total\{[^}]*tarpit[^}]*\} (\d+)/gm)].reduce(
          (s, m) => s + Number(m[1]),
          0,
        );
        const detail = `${attempts.length} connections: ${attempts.length - failed.length} echoed, ${failed.length} failed after ${failed.map((a) => a.ms).join('/')} ms; ${lateFailures} failures among the last 8; ${ejections} ejection(s) counted`;
        const slow = failed.filter((a) => a.ms < CONNECT_TIMEOUT_MS * 0.8 || a.ms > CONNECT_TIMEOUT_MS + 2500);
        if (failed.length === 0) throw new Error(`${detail}: no connection was sent to the dead endpoint, so nothing was tested`);
        if (slow.length > 0 || lateFailures > 0 || ejections < 1) throw new Error(detail);
        return detail;
      } finally {
        await rm(file, { force: true });
        tarpit?.kill('SIGKILL');
        await echo.stop();
      }
    },
  );
}
