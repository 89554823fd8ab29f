// `meshgate proxy --bootstrap FILE`: runs one proxy (sidecar, ingress or egress gateway — its xDS config
// decides) with its agent: workload certificate, ADS, admin. SIGTERM/SIGINT drain gracefully: readiness
// fails, listeners stop accepting, open connections get the bootstrap's drain timeout to finish.
// `--run-as UID:GID` starts as root and drops to that user once everything it reads is loaded (run-as.ts).
import type { Command } from 'commander';
import type net from 'node:net';
import { getOriginalDestination, originalDstAvailable } from '../capture/original-dst.js';
import { ProxyAgent } from '../proxy/agent.js';
import { loadBootstrap } from '../proxy/bootstrap.js';
import { defaultLog } from '../proxy/proxy.js';
import { assertReadableAfterDrop, dropPrivileges, parseRunAs, type RunAs } from '../proxy/run-as.js';
import { envoyRoot } from '../xds/protos.js';

export async function runProxy(opts: { bootstrap: string; adminPort?: number; runAs?: RunAs }): Promise<ProxyAgent> {
  const b = await loadBootstrap(opts.bootstrap);
  if (opts.adminPort !== undefined) b.admin = { ...b.admin, port: opts.adminPort };
  const runAs = opts.runAs;
  if (runAs) {
    // What the proxy would otherwise load on first use from its own installation, which the
    // proxy's user may not be able to read: Envoy's .proto files (first xDS message) and the addon
    // (first redirected connection; its absence is reported then, as without --run-as).
    envoyRoot();
    originalDstAvailable();
  }
  let warned = false;
  const originalDestination = (s: net.Socket): { address: string; port: number } | undefined => {
    if (originalDstAvailable()) return getOriginalDestination(s);
    if (!warned) {
      warned = true;
      defaultLog('warn', 'SO_ORIGINAL_DST is unavailable (addon not built); useOriginalDst listeners use the local address of each connection');
    }
    return undefined;
  };
  const beforeFirstSocket = runAs
    ? (): void => {
        dropPrivileges(runAs);
        // The token is read again for every certificate request and ADS reconnection (rotated in place).
        assertReadableAfterDrop([{ path: b.tokenFile, what: 'workload token' }], runAs);
        defaultLog('info', `running as uid ${runAs.uid}, gid ${runAs.gid}`);
      }
    : undefined;
  const agent = new ProxyAgent(b, { originalDestination, ...(beforeFirstSocket ? { beforeFirstSocket } : {}) });
  await agent.start();
  return agent;
}

export function registerProxyCommand(program: Command): void {
  program
    .command('proxy')
    .description('Run a proxy (Envoy + pilot-agent roles) from a bootstrap file: certificate from the CA, config over ADS, admin on loopback.')
    .requiredOption('--bootstrap <file>', 'the proxy bootstrap (YAML or JSON): node identity, control plane address, root certificate, token file')
    .option('--admin-port <port>', 'override the admin port (Istio: 15000)', (v) => Number.parseInt(v, 10))
    .option('--run-as <uid:gid>', 'start as root, load code and start-up files, then drop to this user before opening any socket (capture exempts its traffic by uid; Istio: 1337:1337)', parseRunAs)
    .action(async (o: { bootstrap: string; adminPort?: number; runAs?: RunAs }) => {
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
