// `meshgate proxy --bootstrap FILE` (or `--from-env` in an injected pod): runs one proxy (sidecar, ingress or egress gateway — its xDS config
// decides) with its agent: workload certificate, ADS, admin. SIGTERM/SIGINT drain gracefully: readiness
// fails, listeners stop accepting, open connections get the bootstrap's drain timeout to finish.
// `--run-as UID:GID` starts as root and drops to that user once everything it reads is loaded (run-as.ts).
// `--runtime bun` runs the same command under Bun instead of Node (runtime-exec.ts).
import { InvalidArgumentError, type Command } from 'commander';
import type net from 'node:net';
import { getOriginalDestination, originalDstAvailable } from '../capture/original-dst.js';
import { ProxyAgent } from '../proxy/agent.js';
import { loadBootstrap } from '../proxy/bootstrap.js';
import { bootstrapFromEnv } from '../proxy/bootstrap-env.js';
import { writeFile } from 'node:fs/promises';
import type { ConnectionLimitSettings } from '../proxy/connection-limits.js';
import type { ProxyBootstrap } from '../proxy/bootstrap-types.js';
import { defaultLog } from '../proxy/proxy.js';
import { assertReadableAfterDrop, dropPrivileges, parseRunAs, type RunAs } from '../proxy/run-as.js';
import { envoyRoot } from '../xds/protos.js';
import { currentRuntime, parseRuntime, type Runtime } from '../shared/runtime.js';
import { runUnder } from './runtime-exec.js';

export interface ProxyCommandOptions {
  bootstrap?: string;
  /** Build the bootstrap from the pod's environment (bootstrap-env.ts) instead of a file. */
  fromEnv?: boolean;
  /** With fromEnv: `sidecar` (default) or `router` (a gateway). */
  role?: string;
  /** With fromEnv: write the bootstrap built to this file (the pod's bootstrap emptyDir), for people and proxy-config. */
  writeBootstrap?: string;
  adminPort?: number;
  runAs?: RunAs;
  globalDownstreamMaxConnections?: number;
  /** `NAME=N` pairs, one per listener. */
  listenerConnectionLimit?: string[];
  /** Run under this runtime; when it is not the one running this process, the command is run again under it. */
  runtime?: Runtime;
}

/** The command line's connection caps over the bootstrap's (flags win, listener by listener). */
export function connectionLimitsFromFlags(
  o: ProxyCommandOptions,
  fromBootstrap: ConnectionLimitSettings | undefined,
): ConnectionLimitSettings | undefined {
  if (o.globalDownstreamMaxConnections === undefined && !o.listenerConnectionLimit?.length) return fromBootstrap;
  const listeners = { ...fromBootstrap?.listeners };
  for (const pair of o.listenerConnectionLimit ?? []) {
    const [name, n] = listenerLimitPair(pair);
    listeners[name] = n;
  }
  const g = o.globalDownstreamMaxConnections ?? fromBootstrap?.globalDownstreamMaxConnections;
  return { ...(g !== undefined ? { globalDownstreamMaxConnections: g } : {}), listeners };
}

/** `NAME=N` (listener names hold dots and colons, so the last `=` splits). */
function listenerLimitPair(pair: string): [string, number] {
  const i = pair.lastIndexOf('=');
  const n = Number(pair.slice(i + 1));
  if (i <= 0 || pair.slice(i + 1) === '' || !Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`--listener-connection-limit: "${pair}" is not NAME=N (N a non-negative integer)`);
  return [pair.slice(0, i), n];
}

function count(flag: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v === '' || !Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${flag}: "${v}" is not a non-negative integer`);
    return n;
  };
}

function parseRuntimeOption(v: string): Runtime {
  try {
    return parseRuntime(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

class ProxyUsageError extends Error {
  readonly code = 'E_CLI_USAGE';
}

async function bootstrapFor(opts: ProxyCommandOptions, env: NodeJS.ProcessEnv): Promise<ProxyBootstrap> {
  if (Boolean(opts.fromEnv) === Boolean(opts.bootstrap)) throw new ProxyUsageError('give exactly one of --bootstrap FILE and --from-env');
  if (opts.bootstrap) return loadBootstrap(opts.bootstrap);
  const role = opts.role ?? 'sidecar';
  if (role !== 'sidecar' && role !== 'router') throw new ProxyUsageError(`--role must be sidecar or router, got "${role}"`);
  const b = bootstrapFromEnv(env, role);
  if (opts.writeBootstrap) await writeFile(opts.writeBootstrap, `${JSON.stringify(b, null, 2)}\n`, { mode: 0o644 });
  return b;
}

export async function runProxy(opts: ProxyCommandOptions, env: NodeJS.ProcessEnv = process.env): Promise<ProxyAgent> {
  const b = await bootstrapFor(opts, env);
  if (opts.adminPort !== undefined) b.admin = { ...b.admin, port: opts.adminPort };
  b.connectionLimits = connectionLimitsFromFlags(opts, b.connectionLimits);
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
      defaultLog(
        'warn',
        'SO_ORIGINAL_DST is unavailable (addon not built); useOriginalDst listeners use the local address of each connection',
      );
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
    .description(
      'Run a proxy (Envoy + pilot-agent roles) from a bootstrap file: certificate from the CA, config over ADS, admin on loopback.',
    )
    .option('--bootstrap <file>', 'the proxy bootstrap (YAML or JSON): node identity, control plane address, root certificate, token file')
    .option(
      '--from-env',
      "build the bootstrap from the pod's environment instead (POD_NAME, POD_NAMESPACE, INSTANCE_IP, SERVICE_ACCOUNT, DISCOVERY_ADDRESS, TRUST_DOMAIN, ...; what the injector writes)",
    )
    .option('--role <role>', 'with --from-env: sidecar (default) or router (a gateway)')
    .option('--write-bootstrap <file>', 'with --from-env: also write the bootstrap built to this file')
    .option('--admin-port <port>', 'override the admin port (Istio: 15000)', (v) => Number.parseInt(v, 10))
    .option(
      '--global-downstream-max-connections <n>',
      "refuse new connections beyond N open over all listeners (Envoy's overload manager limit; default 50000, lower when the file-descriptor limit cannot carry it)",
      count('--global-downstream-max-connections'),
    )
    .option(
      '--listener-connection-limit <name=n>',
      "refuse new connections to listener NAME beyond N open (Envoy's envoy.resource_limits.listener.NAME.connection_limit); repeatable",
      (v: string, prev: string[] = []) => {
        listenerLimitPair(v);
        return [...prev, v];
      },
    )
    .option(
      '--run-as <uid:gid>',
      'start as root, load code and start-up files, then drop to this user before opening any socket (capture exempts its traffic by uid; Istio: 1337:1337)',
      parseRunAs,
    )
    .option(
      '--runtime <runtime>',
      'the JavaScript runtime the proxy runs under: node (default) or bun (the optional dependency @oven/bun-linux-x64, or MESHGATE_BUN_BINARY)',
      parseRuntimeOption,
    )
    .action(async (o: ProxyCommandOptions) => {
      // No default value: the command run again under Bun carries no --runtime and stays where it is.
      if (o.runtime !== undefined && o.runtime !== currentRuntime()) {
        process.exitCode = await runUnder(o.runtime, process.argv.slice(2));
        return;
      }
      const agent = await runProxy(o);
      const drainMs = (agent.bootstrap.drainTimeoutSeconds ?? 45) * 1000;
      let stopping = false;
      const stop = (sig: string): void => {
        if (stopping) return;
        stopping = true;
        defaultLog('info', `${sig}: draining for up to ${drainMs} ms`);
        agent.stop(drainMs).then(
          () => process.exit(0),
          (err: unknown) => {
            defaultLog('error', `shutdown failed: ${(err as Error).message}`);
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
    });
}
