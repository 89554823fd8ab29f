// Fault: both control planes killed (SIGKILL) while connections are held. Envoy keeps serving its last
// config with istiod gone; so must the proxies: held connections keep echoing intact, new ones are
// served, and when the control planes return every proxy reconnects and is SYNCED again.
import { HeldConnections } from '../held-connections.js';
import type { SoakChain } from '../lab-chain.js';
import type { SoakReport } from '../results.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function controlPlaneKilled(report: SoakReport, chain: SoakChain, connections: number): Promise<void> {
  await report.check(
    'fault: control plane killed',
    'proxies keep serving on their last config (no held connection drops, new ones succeed), then reconnect and resync when it returns',
    async () => {
      const held = new HeldConnections(chain.target);
      try {
        const opened = await held.open(connections, { concurrency: 32 });
        if (opened.failed > 0) throw new Error(`could not open the connections to hold: ${held.openErrors.join('; ')}`);
        chain.killControlPlanes();
        await sleep(2000);
        const during = await held.exchange(4096);
        const fresh = new HeldConnections(chain.target);
        const freshOpened = await fresh.open(20, { concurrency: 4 });
        await fresh.closeAll();
        await chain.restartControlPlanes();
        const synced = await chain.waitSynced(60_000);
        const after = await held.exchange(4096);
        report.bytesSent += held.bytesSent + fresh.bytesSent;
        report.bytesLost += during.bytesLost + after.bytesLost;
        const detail = `held ${connections}: ${during.intact}/${during.connections} intact with the control planes down, ${after.intact}/${after.connections} after; new connections while down ${freshOpened.opened}/20; resynced: ${synced.slice(0, 200)}`;
        if (during.intact !== connections || after.intact !== connections || freshOpened.opened !== 20)
          throw new Error(
            `${detail}; endings ${JSON.stringify(held.endings())}${fresh.openErrors.length ? `; new: ${fresh.openErrors.join('; ')}` : ''}`,
          );
        return detail;
      } finally {
        await held.closeAll();
      }
    },
  );
}
