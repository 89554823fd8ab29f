// Load: N long-lived connections through the four-proxy chain, each proven with hashed echoes when
// opened and again while all are held; the four proxies' resident memory before and while holding
// gives the cost per 1,000 connections.
import { rssKb } from '../bench/procstat.js';
import { maxConnectionsPerProxy } from '../bench/limits.js';
import { HeldConnections } from './held-connections.js';
import { getText, PATH_NAMES, type SoakChain } from './lab-chain.js';
import type { SoakReport } from './results.js';

export async function runLoad(report: SoakReport, chain: SoakChain, connections: number, log: (line: string) => void): Promise<void> {
  const limit = maxConnectionsPerProxy();
  const n = Math.min(connections, limit);
  if (n < connections) log(`the descriptor limit allows ${limit} connections per proxy; holding ${n} instead of ${connections}`);
  await report.check(
    `load: ${n} long-lived connections through the chain`,
    `all ${n} open with a hashed echo, all still echo intact while held, 0 errors, 0 bytes lost`,
    async () => {
      const pids = chain.pids();
      const before = pids.map((p) => rssKb(p));
      const held = new HeldConnections(chain.target);
      try {
        const t0 = Date.now();
        const opened = await held.open(n, { concurrency: 64, firstBytes: 1024, maxSeconds: 240 });
        const openS = (Date.now() - t0) / 1000;
        log(
          `load: ${opened.opened} open in ${openS.toFixed(1)} s, ${opened.failed} failed${held.openErrors.length ? ` (${held.openErrors.join('; ')})` : ''}`,
        );
        const rounds = [];
        for (const bytes of [4096, 16384]) rounds.push(await held.exchange(bytes, { concurrency: 256 }));
        const during = pids.map((p) => rssKb(p));
        const heldNow = held.size;
        report.connectionsHeld = Math.max(report.connectionsHeld, heldNow);
        report.bytesSent += held.bytesSent;
        const lost = rounds.reduce((s, r) => s + r.bytesLost, 0);
        report.bytesLost += lost;
        const perK = during.map(
          (kb, i) => `${PATH_NAMES[i]} ${(((kb - before[i]!) / 1024) * (1000 / Math.max(1, heldNow))).toFixed(1)} MiB`,
        );
        await held.closeAll();
        // No leak: once the clients hang up, every proxy on the path must be back to 0 active connections.
        const left = await activeAfterClose(chain, 15_000);
        const detail = `${heldNow}/${n} held; ${opened.failed} open errors; exchanges ${rounds.map((r) => `${r.intact}/${r.connections} intact`).join(', ')}; ${held.bytesSent} bytes sent, ${lost} lost; RSS per 1,000 connections: ${perK.join(', ')} (total RSS ${(during.reduce((a, b) => a + b, 0) / 1024).toFixed(0)} MiB); active after close: ${left.join(', ')}`;
        if (
          opened.failed > 0 ||
          heldNow < n ||
          lost > 0 ||
          rounds.some((r) => r.intact !== r.connections) ||
          left.some((l) => !l.endsWith(' 0'))
        )
          throw new Error(detail);
        return detail;
      } finally {
        await held.closeAll();
      }
    },
  );
}

/** Each path proxy's meshgate_proxy_active_connections summed, polled until all are 0 or `ms` passes. */
async function activeAfterClose(chain: SoakChain, ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const out = await Promise.all(
      chain.proxies.map(async (p, i) => {
        const text = await getText(`${p.adminUrl}/stats/prometheus`).catch(() => '');
        const n = [...text.matchAll(/^meshgate_proxy_active_connections(?:\{[^}]*\})? (\d+)/gm)].reduce((s, m) => s + Number(m[1]), 0);
        return `${PATH_NAMES[i]} ${text ? n : '?'}`;
      }),
    );
    if (out.every((l) => l.endsWith(' 0')) || Date.now() > deadline) return out;
    await new Promise((r) => setTimeout(r, 250));
  }
}
