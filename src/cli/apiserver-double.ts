// `meshgate apiserver-double --listen HOST:PORT --kubeconfig-out FILE`: the Kubernetes API-server double
// (src/kube/apiserver-double/) as a process, for the lab's kubernetes config source and for trying
// kubectl against meshgate without a cluster. A fresh random bearer token and a self-signed certificate
// each start; both go into the kubeconfig file (0600). Runs until SIGTERM/SIGINT.
import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { startApiServerDouble } from '../kube/apiserver-double/server.js';
import { writeKubeconfig } from '../kube/kubeconfig.js';
import { jsonLogger } from '../shared/log.js';

export function registerApiServerDoubleCommand(program: Command): void {
  program
    .command('apiserver-double')
    .description(
      'Serve a Kubernetes API-server double (discovery, list, watch with bookmarks and 410 Gone, create/update/patch/delete) over HTTPS with a bearer token; for the lab and tests, not a cluster.',
    )
    .requiredOption('--kubeconfig-out <file>', 'write a kubeconfig for this server (its CA and token) here, 0600')
    .option('--listen <host:port>', 'address to serve on', '127.0.0.1:0')
    .option('--cluster-name <name>', 'the cluster and context name in the kubeconfig', 'meshgate')
    .action(async (o: { kubeconfigOut: string; listen: string; clusterName: string }) => {
      const i = o.listen.lastIndexOf(':');
      const port = Number(o.listen.slice(i + 1));
      if (i < 0 || !Number.isInteger(port) || port < 0 || port > 65535)
        throw Object.assign(new Error(`--listen must be host:port, got "${o.listen}"`), { code: 'E_CLI_USAGE' });
      const d = await startApiServerDouble({ host: o.listen.slice(0, i), port, token: randomBytes(24).toString('base64url') });
      writeKubeconfig(o.kubeconfigOut, { server: d.url, caPem: d.caPem, token: d.token, clusterName: o.clusterName });
      jsonLogger({ scope: 'apiserver-double' }).info('apiserver-double serving', { url: d.url, kubeconfig: o.kubeconfigOut });
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', () => resolve());
        process.once('SIGINT', () => resolve());
      });
      await d.close();
    });
}
