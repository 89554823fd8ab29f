// `meshgate proxy --bootstrap FILE`: runs one proxy (sidecar, ingress or egress gateway — its xDS config
// decides) with its agent: workload certificate, ADS, admin. SIGTERM/SIGINT drain gracefully: readiness
// fails, listeners stop accepting, open connections get the bootstrap's drain timeout to finish.
import type { Command } from 'commander';
import type net from 'node:net';
import { getOriginalDestination, originalDstAvailable } from '../capture/original-dst.js';
import { ProxyAgent } from '../proxy/agent.js';
import { loadBootstrap } from '../proxy/bootstrap.js';
import { defaultLog } from '../proxy/proxy.js';

export async function runProxy(opts: { bootstrap: string; adminPort?: number }): Promise<ProxyAgent> {
  const b = await loadBootstrap(opts.bootstrap);
  if (opts.adminPort !== undefined) b.admin = { ...b.admin, port: opts.adminPort };
  let warned = false;
  const originalDestination = (s: net.Socket): { address: string; port: number } | undefined => {
    if (originalDstAvailable()) return getOriginalDestination(s);
    if (!warned) {
      warned = true;
      defaultLog('warn', 'SO_ORIGINAL_DST is unavailable (addon not built); useOriginalDst listeners use the local address of each connection');
    }
    return undefined;
  };
  const agent = new ProxyAgent(b, { originalDestination });
  await agent.start();
  return agent;
}

export function registerProxyCommand(program: Command): void {
  program
    .command('proxy')
    .description('Run a proxy (Envoy + pilot-agent roles) from a bootstrap file: certificate from the CA, config over ADS, admin on loopback.')
    .requiredOption('--bootstrap <file>', 'the proxy bootstrap (YAML or JSON): node identity, control plane address, root certificate, token file')
    .option('--admin-port <port>', 'override the admin port (Istio: 15000)', (v) => Number.parseInt(v, 10))
    .action(async (o: { bootstrap: string; adminPort?: number }) => {
      const agent = await runProxy(o);
      const drainMs = (agent.bootstrap.drainTimeoutSeconds ?? 45) * 1000;
      let stopping = false;
      const stop = (sig: string): void => {
        if (stopping) return;
        stopping = true;
        defaultLog('info', `${sig}: draining for up to ${drainMs} ms`);
        agent.stop(drainMs).then(() => process.exit(0), (err: unknown) => {
          defaultLog('error', `shutdown failed: ${(err as Error).message}`);
          process.exit(1);
        });
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
}
