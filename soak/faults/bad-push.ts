// Fault: a config push the proxy cannot apply. A Gateway server on a port that something else already
// holds on the ingress gateway's address is added to cluster B: the control plane translates it, the
// proxy's bind fails, so it must NACK the listener update (syncz shows it) and keep serving its old
// listeners — held connections echo intact, new ones succeed. Removing the bad Gateway brings it back
// to SYNCED.
import net from 'node:net';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { HeldConnections } from '../held-connections.js';
import type { SoakChain } from '../lab-chain.js';
import type { SoakReport } from '../results.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function unappliablePush(report: SoakReport, chain: SoakChain, connections: number): Promise<void> {
  await report.check(
    'fault: a push the proxy cannot apply',
    'the ingress gateway NACKs the listener update (shown by syncz), keeps serving its old config (held connections intact, new ones succeed), and is SYNCED again once the bad config is removed',
    async () => {
      const ingress = chain.proxies[2]!;
      const squatter = net.createServer((s) => s.destroy());
      await new Promise<void>((resolve, reject) => {
        squatter.once('error', reject);
        squatter.listen(0, ingress.address, () => resolve());
      });
      const port = (squatter.address() as net.AddressInfo).port;
      const file = path.join(chain.configDir('cluster-b'), 'soak-unbindable-gateway.yaml');
      const held = new HeldConnections(chain.target);
      try {
        const opened = await held.open(connections, { concurrency: 32 });
        if (opened.failed > 0) throw new Error(`could not open the connections to hold: ${held.openErrors.join('; ')}`);
        await writeFile(
          file,
          `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: soak-unbindable, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: ${port}, name: tls-soak, protocol: TLS}
    hosts: ["*"]
    tls: {mode: AUTO_PASSTHROUGH}
`,
        );
        const cb = chain.clusters.find((c) => c.name === 'cluster-b')!;
        const deadline = Date.now() + 30_000;
        let nack: { state: string; error?: string } | undefined;
        while (Date.now() < deadline) {
          const ps = await chain.syncz(cb);
          const gw = ps.find((p) => p.proxy.includes(ingress.name));
          const lds = gw?.types.lds;
          if (lds && (lds.error || (lds as { nacked?: string }).nacked)) {
            nack = lds;
            break;
          }
          await sleep(250);
        }
        if (!nack) throw new Error(`no NACK for a listener on ${ingress.address}:${port}, which is taken, within 30 s`);
        const during = await held.exchange(4096);
        const fresh = new HeldConnections(chain.target);
        const freshOpened = await fresh.open(20, { concurrency: 4 });
        await fresh.closeAll();
        await rm(file, { force: true });
        const synced = await chain.waitSynced(30_000);
        report.bytesSent += held.bytesSent + fresh.bytesSent;
        report.bytesLost += during.bytesLost;
        const detail = `NACKed (lds ${nack.state}: ${(nack.error ?? '').slice(0, 160)}); held ${during.intact}/${connections} intact, new ${freshOpened.opened}/20; after removal: ${synced.includes('STALE') ? 'stale' : 'SYNCED'}`;
        if (during.intact !== connections || freshOpened.opened !== 20) throw new Error(detail);
        return detail;
      } finally {
        await rm(file, { force: true });
        await held.closeAll();
        await new Promise<void>((r) => squatter.close(() => r()));
      }
    },
  );
}
