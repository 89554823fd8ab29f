// `meshgate capture`: istio-iptables' job. Run as root inside a pod's network namespace
// (`ip netns exec NAME meshgate capture ...`, or `--netns NAME`): installs the REDIRECT rules that send
// the application's TCP to the sidecar, prints them with --dry-run, removes them with --cleanup.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CaptureError } from '../capture/errors.js';
import { applyCapture, cleanupCapture, DEFAULT_STATE_DIR } from '../capture/iptables.js';
import { buildCaptureRules, restoreLines, type CaptureConfig } from '../capture/iptables-rules.js';
import { outputHelp, parseOutputFormat } from './output-format.js';

const CAPTURE_FORMATS = ['short', 'json'] as const;

export interface CaptureCliOptions {
  proxyUid: string;
  proxyGid: string;
  outboundPort: string;
  inboundPort: string;
  inboundPorts: string;
  excludeInboundPorts: string;
  includeOutboundPorts: string;
  excludeOutboundPorts: string;
  includeOutboundIpRanges: string;
  excludeOutboundIpRanges: string;
  dns?: boolean;
  dnsServers?: string;
  captureAllDns?: boolean;
  ipv6?: boolean;
  iptablesBackend: string;
  dryRun?: boolean;
  cleanup?: boolean;
  reconcile?: boolean;
  netns?: string;
  stateDir: string;
  output: string;
}

export interface CaptureCliIo {
  out(text: string): void;
  /** The resolv.conf read for --dns without --dns-servers (tests point it elsewhere). */
  resolvConf?: string;
}

const defaultIo: CaptureCliIo = { out: (s) => process.stdout.write(s) };

export function registerCaptureCommand(program: Command, io: CaptureCliIo = defaultIo): Command {
  return program
    .command('capture')
    .description("install transparent capture (istio-iptables' rules) in this network namespace; run as root in the pod's namespace")
    .option('--proxy-uid <uids>', 'user id(s) of the proxy, never captured', '1337')
    .option('--proxy-gid <gids>', 'group id(s) of the proxy, never captured', '1337')
    .option('--outbound-port <port>', 'virtual outbound listener outbound TCP is redirected to', '15001')
    .option('--inbound-port <port>', 'virtual inbound listener inbound TCP is redirected to', '15006')
    .option('--inbound-ports <ports>', 'inbound ports to capture: "*" for all, a comma list, or "" for none', '*')
    .option('--exclude-inbound-ports <ports>', 'inbound ports never captured (15000,15020,15021,15090 always are)', '')
    .option('--include-outbound-ports <ports>', 'outbound ports always captured, whatever the destination', '')
    .option('--exclude-outbound-ports <ports>', 'outbound ports never captured (TCP and UDP)', '')
    .option('--include-outbound-ip-ranges <cidrs>', 'destination CIDRs captured: "*" for all, or a comma list', '*')
    .option('--exclude-outbound-ip-ranges <cidrs>', 'destination CIDRs never captured', '')
    .option('--dns', "capture DNS (UDP and TCP 53) to the sidecar's DNS proxy on 15053, for the resolvers in /etc/resolv.conf")
    .option('--dns-servers <ips>', 'with --dns: capture DNS to these resolvers instead of those in /etc/resolv.conf')
    .option('--capture-all-dns', 'with --dns: capture DNS to any resolver')
    .option('--ipv6', 'also install the ip6tables rules')
    .option('--iptables-backend <backend>', 'auto, nft or legacy', 'auto')
    .option('--dry-run', 'print the iptables-restore input and change nothing')
    .option('--cleanup', 'remove the capture rules (exactly what capture added)')
    .option('--reconcile', 'replace capture rules already present instead of failing')
    .option('--netns <name>', 'work in this named network namespace instead of the current one')
    .option('--state-dir <dir>', 'where applied rule sets are recorded for --cleanup', DEFAULT_STATE_DIR)
    .option('-o, --output <format>', outputHelp(CAPTURE_FORMATS), 'short')
    .action(async (opts: CaptureCliOptions) => {
      await runCapture(opts, io);
    });
}

export async function runCapture(opts: CaptureCliOptions, io: CaptureCliIo = defaultIo): Promise<void> {
  parseOutputFormat(opts.output, CAPTURE_FORMATS, 'capture');
  const backend = opts.iptablesBackend;
  if (backend !== 'auto' && backend !== 'nft' && backend !== 'legacy')
    throw new CaptureError('E_CAPTURE_CONFIG', `--iptables-backend must be auto, nft or legacy, got "${backend}"`);
  const config = captureConfigFromFlags(opts, io.resolvConf ?? '/etc/resolv.conf');
  const common = { backend, netns: opts.netns, stateDir: opts.stateDir } as const;

  if (opts.dryRun) {
    const rules = buildCaptureRules(config);
    if (opts.output === 'json') {
      io.out(JSON.stringify({ config, iptables: restoreLines(rules.v4), ip6tables: restoreLines(rules.v6) }, null, 2) + '\n');
    } else {
      io.out(`# iptables-restore --noflush input (IPv4)\n${restoreLines(rules.v4).join('\n')}\n`);
      if (rules.v6.length > 0) io.out(`# ip6tables-restore --noflush input (IPv6)\n${restoreLines(rules.v6).join('\n')}\n`);
    }
    return;
  }
  if (opts.cleanup) {
    const result = await cleanupCapture({ ...common, config });
    if (opts.output === 'json') io.out(JSON.stringify(result, null, 2) + '\n');
    else if (result.removed.length === 0) io.out('capture: nothing to remove\n');
    else
      io.out(
        `capture: removed (from the ${result.source === 'state' ? 'recorded rule set' : 'given settings'}):\n${result.removed.map((l) => `  ${l}`).join('\n')}\n`,
      );
    return;
  }
  const result = await applyCapture(config, { ...common, reconcile: opts.reconcile });
  if (opts.output === 'json') {
    io.out(JSON.stringify(result, null, 2) + '\n');
  } else {
    const count = result.restore.reduce((n, r) => n + r.lines.filter((l) => l.startsWith('-A ')).length, 0);
    io.out(
      `capture: ${count} rules applied with ${result.version || result.backend} (outbound → ${config.outboundPort ?? 15001}, inbound → ${config.inboundPort ?? 15006}${config.dns ? ', DNS → 15053' : ''}); recorded in ${result.stateFile}\n`,
    );
  }
}

/** Turns the command line into capture settings, reading resolv.conf for --dns as istio-iptables does. */
export function captureConfigFromFlags(opts: CaptureCliOptions, resolvConf: string): Partial<CaptureConfig> {
  const dnsServers = !opts.dns || opts.captureAllDns ? [] : opts.dnsServers !== undefined ? list(opts.dnsServers) : nameservers(resolvConf);
  return {
    proxyUid: list(opts.proxyUid),
    proxyGid: list(opts.proxyGid),
    outboundPort: port('--outbound-port', opts.outboundPort),
    inboundPort: port('--inbound-port', opts.inboundPort),
    inboundPorts: opts.inboundPorts.trim() === '*' ? '*' : ports('--inbound-ports', opts.inboundPorts),
    excludeInboundPorts: ports('--exclude-inbound-ports', opts.excludeInboundPorts),
    includeOutboundPorts: ports('--include-outbound-ports', opts.includeOutboundPorts),
    excludeOutboundPorts: ports('--exclude-outbound-ports', opts.excludeOutboundPorts),
    includeOutboundIpRanges: opts.includeOutboundIpRanges.trim() === '*' ? '*' : list(opts.includeOutboundIpRanges),
    excludeOutboundIpRanges: list(opts.excludeOutboundIpRanges),
    dns: Boolean(opts.dns),
    dnsServers,
    ipv6: Boolean(opts.ipv6),
  };
}

function list(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

function port(flag: string, s: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s.trim()) || n < 1 || n > 65535) throw new CaptureError('E_CAPTURE_CONFIG', `${flag}: "${s}" is not a port (1-65535)`);
  return n;
}

function ports(flag: string, s: string): number[] {
  return list(s).map((p) => port(flag, p));
}

/** The `nameserver` lines of a resolv.conf; with none, DNS to any resolver is captured (glibc then uses 127.0.0.1). */
function nameservers(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CaptureError(
      'E_CAPTURE_CONFIG',
      `--dns: cannot read ${file} for the resolvers to capture (${(err as Error).message}); pass --dns-servers or --capture-all-dns`,
      { cause: err },
    );
  }
  return text
    .split('\n')
    .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1]?.replace(/%.*$/, ''))
    .filter((s): s is string => s !== undefined);
}
