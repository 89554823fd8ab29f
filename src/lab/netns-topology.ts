// netns mode's network: a namespace per cluster holding its bridge (and its control plane at .1),
// a namespace for the WAN bridge between gateways, and a namespace per pod wired to its cluster's
// bridge (gateways also to the WAN) by veth pairs created directly inside the lab's namespaces, so no
// interface ever appears in the host's namespace. The bridge namespaces do not forward IP, so a pod
// reaches another cluster only through a gateway, and nothing is routed to or from the host.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LabPlan, PlannedPod } from './lab-plan.js';
import { podKey } from './lab-plan.js';
import type { LabState } from './lab-state.js';

export class NetnsError extends Error {
  constructor(
    readonly code: 'E_NETNS',
    message: string,
    readonly command: string,
  ) {
    super(message);
    this.name = 'NetnsError';
  }
}

/** Runs `ip ARGS`, throwing with the command and ip's own message on failure. */
export function ipCommand(args: string[]): string {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) {
    const cmd = `ip ${args.join(' ')}`;
    throw new NetnsError('E_NETNS', `${cmd} failed: ${(r.stderr || String(r.error ?? '')).trim()}`, cmd);
  }
  return r.stdout;
}

/** Whether netns mode can run here: Linux, root, `ip` and `iptables` present. */
export function netnsModeAvailable(): { ok: boolean; reason?: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'network namespaces need Linux' };
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return { ok: false, reason: 'network namespaces need root' };
  for (const [cmd, arg, pkg] of [
    ['ip', '-V', 'iproute2'],
    ['iptables', '--version', 'iptables'],
  ] as const) {
    const r = spawnSync(cmd, [arg], { encoding: 'utf8' });
    if (r.error || r.status !== 0) return { ok: false, reason: `${cmd} is missing (apt-get install ${pkg})` };
  }
  return { ok: true };
}

/** The bridge-side name of a pod's veth in its cluster namespace (`p<n>`) or in the WAN namespace (`w<k>-<n>`). */
export function bridgePortName(pod: PlannedPod, wan: boolean): string {
  return wan ? `w${pod.clusterIndex}-${pod.index}` : `p${pod.index}`;
}

function addNetns(state: LabState, name: string): void {
  ipCommand(['netns', 'add', name]);
  state.add({ kind: 'netns', name });
  ipCommand(['-n', name, 'link', 'set', 'lo', 'up']);
}

function addBridge(state: LabState, netns: string, address?: string): void {
  ipCommand(['-n', netns, 'link', 'add', 'br0', 'type', 'bridge']);
  state.add({ kind: 'link', netns, name: 'br0' });
  if (address) ipCommand(['-n', netns, 'addr', 'add', address, 'dev', 'br0']);
  ipCommand(['-n', netns, 'link', 'set', 'br0', 'up']);
}

/** A veth pair from a pod namespace (`dev`) to a bridge namespace (`port`, enslaved to br0). */
function addPodLink(state: LabState, pod: PlannedPod, dev: string, bridgeNetns: string, port: string, cidr: string): void {
  const podNs = pod.netns!;
  ipCommand(['-n', podNs, 'link', 'add', dev, 'type', 'veth', 'peer', 'name', port, 'netns', bridgeNetns]);
  state.add({ kind: 'link', netns: podNs, name: dev });
  state.add({ kind: 'link', netns: bridgeNetns, name: port });
  ipCommand(['-n', bridgeNetns, 'link', 'set', port, 'master', 'br0', 'up']);
  ipCommand(['-n', podNs, 'addr', 'add', cidr, 'dev', dev]);
  ipCommand(['-n', podNs, 'link', 'set', dev, 'up']);
}

/** Writes /etc/netns/NS/{hosts,resolv.conf}, which `ip netns exec` bind-mounts over /etc for that namespace. */
function writeEtcNetns(state: LabState, netns: string, hosts: string, nameserver: string): void {
  if (!existsSync('/etc/netns')) {
    mkdirSync('/etc/netns');
    state.add({ kind: 'dir', path: '/etc/netns', onlyIfEmpty: true });
  }
  const dir = path.join('/etc/netns', netns);
  mkdirSync(dir);
  state.add({ kind: 'dir', path: dir });
  writeFileSync(path.join(dir, 'hosts'), hosts);
  // The cluster's DNS server (on its bridge address; with DNS capture off nothing listens there, so
  // unknown names fail fast instead of timing out against the host's resolver, which the lab cannot reach).
  writeFileSync(path.join(dir, 'resolv.conf'), `nameserver ${nameserver}\noptions timeout:1 attempts:1\n`);
}

/** Creates the whole topology, recording each piece in `state` as soon as it exists. */
export function createNetnsTopology(plan: LabPlan, state: LabState, log: (line: string) => void = () => undefined): void {
  if (plan.mode !== 'netns' || !plan.wanNetns) throw new RangeError('createNetnsTopology needs a netns plan');
  for (const c of plan.clusters) {
    log(`cluster ${c.name}: namespace ${c.netns}, bridge 198.18.${c.index}.1/24`);
    addNetns(state, c.netns!);
    addBridge(state, c.netns!, `${c.controlPlaneAddress}/24`);
    // An explicit 0: a fresh namespace starts with forwarding off, and the lab depends on it staying off.
    ipCommand(['netns', 'exec', c.netns!, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=0']);
  }
  addNetns(state, plan.wanNetns);
  addBridge(state, plan.wanNetns);
  for (const pod of plan.pods) {
    const cluster = plan.clusters.find((c) => c.name === pod.cluster)!;
    addNetns(state, pod.netns!);
    addPodLink(state, pod, 'eth0', cluster.netns!, bridgePortName(pod, false), `${pod.address}/24`);
    if (pod.wanAddress) addPodLink(state, pod, 'eth1', plan.wanNetns, bridgePortName(pod, true), `${pod.wanAddress}/24`);
    // The default route points at the cluster's bridge namespace, which does not forward: it only
    // makes connect() to any address reach the OUTPUT chain, where capture redirects it to the sidecar.
    ipCommand(['-n', pod.netns!, 'route', 'add', 'default', 'via', cluster.controlPlaneAddress, 'dev', 'eth0']);
    writeEtcNetns(state, pod.netns!, plan.hosts.get(podKey(pod))!, cluster.controlPlaneAddress);
  }
}

/** Every veth port on a lab bridge: what the wire check watches. */
export function bridgePorts(plan: LabPlan): { netns: string; dev: string }[] {
  const out: { netns: string; dev: string }[] = [];
  for (const pod of plan.pods) {
    const cluster = plan.clusters.find((c) => c.name === pod.cluster)!;
    out.push({ netns: cluster.netns!, dev: bridgePortName(pod, false) });
    if (pod.wanAddress) out.push({ netns: plan.wanNetns!, dev: bridgePortName(pod, true) });
  }
  return out;
}
