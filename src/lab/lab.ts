// `lab up` / `lab down` as a library (the CLI and the benchmark use it): plan the lab, build its
// network, write each cluster's config folder, tokens and bootstraps, then start control planes,
// workloads and proxies in order, each recorded in the state file the moment it exists. Any failure
// tears down what was made; `downLab(stateDir)` does the same from another process.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { ProxyBootstrap } from '../proxy/bootstrap-types.js';
import { formatNodeId } from '../envoy/node.js';
import { startAdminRelay } from './admin-relays.js';
import { createDefaultStateDir, prepareGivenStateDir } from './state-dir.js';
import { applyObjects, folderObjects } from '../kube/apply-folder.js';
import { defaultInstallObjects, defaultMeshConfig } from '../config/default-install.js';
import {
  clusterPaths,
  podPaths,
  prepareCluster,
  preparePod,
  readSecretsFolder,
  writeClusterSecrets,
  PROXY_UID,
  type ClusterPaths,
} from './cluster-runtime.js';
import { loadLabFile, type LabFile } from './lab-file.js';
import { loopbackOctetFor, newLabId, planLab, type LabMode, type LabPlan, type PlannedPod } from './lab-plan.js';
import { nodeEntry, startLabProcess, wrapArgv } from './lab-process.js';
import { LabState, processStartTime } from './lab-state.js';
import { createNetnsTopology, netnsModeAvailable } from './netns-topology.js';
import { startClusterDns } from './cluster-dns.js';
import { packageRoot } from '../shared/package-root.js';
import { meshgateArgv, type Runtime } from '../shared/runtime.js';
import { collectUnboundListeners, type UnboundListener } from './unbound-listeners.js';

export class LabError extends Error {
  constructor(
    readonly code: 'E_LAB_MODE' | 'E_LAB_START' | 'E_LAB_NOT_RUNNING',
    message: string,
  ) {
    super(message);
    this.name = 'LabError';
  }
}

export interface LabProgress {
  step: string;
  status: 'start' | 'ready' | 'fail';
  detail?: string;
}

export interface UpLabOptions {
  /** A lab file, or a folder holding `lab.yaml`. */
  labFile: string;
  mode?: LabMode;
  /** Where the state file, logs, config folders and tokens go; a fixed temp path per lab name by default. */
  stateDir?: string;
  onProgress?: (e: LabProgress) => void;
  /** How long to wait for each control plane and proxy to be ready (default 60 s). */
  readyTimeoutMs?: number;
  /** When `lab up` fails, copy the processes' logs here before tearing down (the error names it). */
  keepLogsOnFailure?: string;
  /**
   * netns mode: resolve names by DNS as in Istio (default true): a DNS server per cluster, sidecars
   * capturing DNS to their DNS proxy. false: the lab file's `dns:` names come from the pods' hosts files.
   */
  dnsCapture?: boolean;
  /** Overrides the lab file's `configSource`: `kubernetes` gives each cluster an API-server double (loopback mode). */
  configSource?: 'directory' | 'kubernetes';
  /** Overrides the lab file's `proxyRuntime`: the runtime every proxy runs under (default node). */
  proxyRuntime?: Runtime;
}

export interface LabClusterInfo {
  name: string;
  trustDomain: string;
  /** The folder the control plane watches: edit it to change the cluster's config (config source `directory`). */
  configDir: string;
  /** Config source `kubernetes`: the kubeconfig of the cluster's API-server double, loaded from configDir at start. */
  kubeconfig?: string;
  controlPlaneUrl: string;
  controlPlanePid?: number;
  /** netns mode with DNS capture: the cluster DNS server (port 53 on the bridge address) and its pid. */
  dns?: { address: string; port: number; pid: number };
}

export interface LabProxyInfo {
  name: string;
  namespace: string;
  cluster: string;
  role: 'sidecar' | 'router';
  gateway?: 'ingress' | 'egress';
  address: string;
  adminUrl: string;
  pid: number;
  accessLog: string;
  netns?: string;
  /** The runtime the proxy runs under (its pid is that runtime's process); absent in a state file of an older lab: node. */
  runtime?: Runtime;
}

export interface LabWorkloadInfo {
  name: string;
  namespace: string;
  cluster: string;
  address: string;
  ports: number[];
  pid?: number;
  /** What a built-in database turned out to be. */
  database?: 'mariadb-server' | 'postgres-embedded';
  /** A built-in database's unix socket: administration that bypasses the mesh. */
  socketPath?: string;
  netns?: string;
}

export interface LabSummary {
  labId: string;
  name: string;
  mode: LabMode;
  /** Why this mode (`requested`, or what netns mode lacked here). */
  modeReason?: string;
  stateDir: string;
  labFile: string;
  clusters: LabClusterInfo[];
  proxies: LabProxyInfo[];
  workloads: LabWorkloadInfo[];
  clientTarget?: { host: string; port: number; netns?: string; workload: string; cluster: string; hostsFile?: string };
  /** Where the credentials script wrote root R and the gateway Secrets (`meshgate ca` works on these). */
  credentialsDir?: string;
  /** The address block this lab uses on the host's loopback (admin relays, loopback-mode pods). */
  loopbackNet: string;
  wanNetns?: string;
  bridgeNetns: string[];
  /** Whether names resolve by DNS (cluster DNS servers and sidecar DNS proxies) rather than hosts files. */
  dnsCapture?: boolean;
  /** Listeners the proxies could not bind and left out (loopback mode as a user other than root: ports below 1024). */
  unboundListeners?: UnboundListener[];
}

export interface RunningLab extends LabSummary {
  /** Runs a command in the client pod, as `kubectl exec` would: its network namespace, its /etc/hosts. */
  exec(cmd: string[], opts?: SpawnOptions): ChildProcess;
  down(): Promise<void>;
}

/** `meshgate` as a command line: the compiled CLI run by this same node. */
export function meshgateCommand(): string[] {
  const main = path.join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(main)) throw new LabError('E_LAB_START', `${main} is missing: run "npm run build" first`);
  return [process.execPath, main];
}

function cliHasCommand(command: string): boolean {
  const r = spawnSync(process.execPath, [path.join(packageRoot(), 'dist', 'src', 'cli', 'main.js'), command, '--help'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return r.status === 0;
}

/** netns when possible (root, Linux, ip, iptables, and the capture command built), else loopback. */
export function chooseMode(requested?: LabMode): { mode: LabMode; why: string } {
  const netns = netnsModeAvailable();
  if (requested === 'netns') {
    if (!netns.ok) throw new LabError('E_LAB_MODE', `netns mode is not available: ${netns.reason}`);
    return { mode: 'netns', why: 'requested' };
  }
  if (requested === 'loopback') return { mode: 'loopback', why: 'requested' };
  if (!netns.ok) return { mode: 'loopback', why: netns.reason ?? 'netns mode unavailable' };
  if (!cliHasCommand('capture')) return { mode: 'loopback', why: 'the capture command is not built' };
  return { mode: 'netns', why: 'root with ip and iptables' };
}

const ADMIN_PORT = 15000;
const STATS_PORT = 15090;
const READINESS_PORT = 15021;
const XDS_PORT = 15012;
const CP_HTTP_PORT = 15014;
/** The API-server double's port in the kubernetes config source (kube-apiserver's usual 6443). */
const KUBE_API_PORT = 6443;
const DNS_PROXY_PORT = 15053;

async function waitFor(
  what: string,
  timeoutMs: number,
  probe: () => Promise<boolean>,
  alive?: () => string | undefined,
  why?: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    const dead = alive?.();
    if (dead) throw new LabError('E_LAB_START', `${what}: ${dead}`);
    if (await probe()) return;
    if (Date.now() > deadline) throw new LabError('E_LAB_START', `${what}: not ready after ${timeoutMs} ms${why ? `; ${why()}` : ''}`);
    await new Promise((r) => setTimeout(r, Math.min(100 * (attempt + 1), 500)));
  }
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await r.arrayBuffer();
    return r.ok;
  } catch {
    // Not listening yet (or the relay's target is not): the caller retries until its deadline.
    return false;
  }
}

function exitedMessage(child: ChildProcess, logFile: string): () => string | undefined {
  return () =>
    child.exitCode !== null || child.signalCode !== null
      ? `exited (${child.exitCode ?? child.signalCode}); see ${logFile}:\n${tail(logFile)}`
      : undefined;
}

/**
 * Why a running proxy never got ready, from its log. (A listener that cannot bind is not a reason any
 * more: the proxy leaves it out and becomes ready; the summary names it, see unbound-listeners.ts.)
 */
export function notReadyReason(logFile: string): string {
  return `see ${logFile}:\n${tail(logFile)}`;
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .slice(-lines)
      .map((l) => `    ${l}`)
      .join('\n');
  } catch {
    // The log may not exist if the process never started; the message above already says so.
    return '    (no log)';
  }
}

function bootstrapFor(plan: LabPlan, pod: PlannedPod, cp: ClusterPaths, paths: ReturnType<typeof podPaths>): ProxyBootstrap {
  const cluster = plan.clusters.find((c) => c.name === pod.cluster)!;
  const role = pod.kind === 'gateway' ? 'router' : 'sidecar';
  const ips = [pod.address];
  return {
    node: {
      id: formatNodeId({ role, ips, podName: pod.name, namespace: pod.namespace, domainSuffix: 'cluster.local' }),
      role,
      ips,
      podName: pod.name,
      namespace: pod.namespace,
      serviceAccount: pod.serviceAccount,
      labels: pod.labels,
      clusterId: pod.cluster,
      domainSuffix: 'cluster.local',
      workloadPorts: pod.ports,
      // netns: sidecars are captured by iptables, and gateways (alone in their namespace) bind 0.0.0.0
      // as Istio's do, which also covers their WAN address. loopback: everything binds its pod address.
      interceptionMode: plan.mode === 'netns' ? 'REDIRECT' : 'NONE',
    },
    discoveryAddress: `${cluster.controlPlaneAddress}:${XDS_PORT}`,
    rootCertFile: path.join(cp.controlPlaneDir, 'root-cert.pem'),
    tokenFile: paths.tokenFile,
    trustDomain: cluster.trustDomain,
    // Admin on loopback (netns: the pod's own 127.0.0.1, reached through the pod's relay); Prometheus and
    // readiness on the pod IP in netns mode, as Istio's. Capture never redirects the admin ports.
    admin: { address: pod.adminAddress, port: ADMIN_PORT },
    ...(plan.mode === 'netns' ? { probeAddress: pod.address } : {}),
    statsPort: STATS_PORT,
    readinessPort: READINESS_PORT,
    accessLog: { path: paths.accessLogFile, format: 'json' },
    drainTimeoutSeconds: 5,
    // Istio's DNS capture: the sidecar's DNS proxy on 127.0.0.1:15053, upstream from the pod's resolv.conf.
    ...(plan.dnsCapture && pod.kind === 'workload' ? { dns: { port: DNS_PROXY_PORT } } : {}),
  };
}

/** `{podIP}`, `{port}` (where the application listens) and `{bind}` in a workload's command. */
function substitute(argv: string[], pod: PlannedPod, listen: { bind: string; port: number | '' }): string[] {
  return argv.map((a) => a.replaceAll('{podIP}', pod.address).replaceAll('{port}', String(listen.port)).replaceAll('{bind}', listen.bind));
}

/**
 * Where a workload's application listens. netns: every address of its own namespace on its port (the
 * sidecar forwards inbound to 127.0.0.1:PORT, as Istio does). loopback with a sidecar: 127.0.0.1 on the
 * free port the lab's Sidecar object names; loopback without one: its pod address.
 */
function appListen(plan: LabPlan, pod: PlannedPod, appPorts: Map<string, Map<number, number>>): { bind: string; port: number | '' } {
  const port = pod.ports[0];
  if (port === undefined) return { bind: plan.mode === 'netns' ? '0.0.0.0' : pod.address, port: '' };
  if (plan.mode === 'netns') return { bind: '0.0.0.0', port };
  const mapped = appPorts.get(`${pod.cluster}/${pod.namespace}/${pod.name}`)?.get(port);
  return mapped !== undefined ? { bind: '127.0.0.1', port: mapped } : { bind: pod.address, port };
}

/**
 * A lab id whose 127.b.0.0/16 block is not in use by another lab on this machine (labs running side by
 * side, e.g. tests): its first control plane's and first admin's addresses must be free.
 */
async function unusedLabId(): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const id = newLabId();
    const b = loopbackOctetFor(id);
    if (
      (await canBind(`127.${b}.1.1`, CP_HTTP_PORT)) &&
      (await canBind(`127.${b}.101.2`, ADMIN_PORT)) &&
      (await canBind(`127.${b}.1.2`, ADMIN_PORT))
    )
      return id;
    if (attempt >= 20) throw new LabError('E_LAB_START', 'no free 127.b.0.0/16 block for the lab after 20 tries');
  }
}

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function summaryExec(summary: LabSummary): RunningLab['exec'] {
  return (cmd, opts = {}) => {
    const t = summary.clientTarget;
    if (!t) throw new LabError('E_LAB_NOT_RUNNING', 'the lab file names no client workload (client:)');
    const argv = wrapArgv({ argv: cmd, ...(t.netns ? { netns: t.netns } : {}), ...(t.hostsFile ? { hostsFile: t.hostsFile } : {}) });
    return spawn(argv[0]!, argv.slice(1), opts);
  };
}

/** netns mode runs proxies as uid 1337: every folder above the state dir must let others through. */
function assertTraversable(dir: string): void {
  for (let d = dir; ; d = path.dirname(d)) {
    const mode = statSync(d).mode;
    if ((mode & 0o001) === 0)
      throw new LabError(
        'E_LAB_START',
        `the proxies (uid ${PROXY_UID}) cannot reach the state dir: ${d} is mode ${(mode & 0o777).toString(8)}; choose a --state-dir under folders others may traverse (o+x)`,
      );
    if (d === path.dirname(d)) return;
  }
}

/** Brings the lab up; on any failure, removes everything it made and rethrows. */
export async function upLab(opts: UpLabOptions): Promise<RunningLab> {
  const progress = opts.onProgress ?? ((): void => undefined);
  const timeout = opts.readyTimeoutMs ?? 60_000;
  const lab = loadLabFile(opts.labFile);
  const { mode, why } = chooseMode(opts.mode);
  const configSource = opts.configSource ?? lab.configSource;
  // The double listens on the cluster's loopback address, which only loopback mode's host side shares
  // with the control plane; in netns mode the control plane's namespace would need it inside.
  if (configSource === 'kubernetes' && mode !== 'loopback')
    throw new LabError('E_LAB_START', 'the kubernetes config source runs in loopback mode only (--mode loopback)');
  lab.configSource = configSource;
  lab.proxyRuntime = opts.proxyRuntime ?? lab.proxyRuntime;
  progress({ step: 'mode', status: 'ready', detail: `${mode} (${why})` });
  const plan = planLab(lab, mode, await unusedLabId(), { dnsCapture: opts.dnsCapture ?? true });
  const ownsStateDir = opts.stateDir === undefined;
  // A fresh mkdtemp folder, or a given one that is ours and 0700 (state-dir.ts: root must not read
  // back files another user planted, such as a CA key or a state file).
  const stateDir = ownsStateDir ? createDefaultStateDir(lab.name) : prepareGivenStateDir(opts.stateDir!);
  if (mode === 'netns') assertTraversable(path.dirname(stateDir));
  const state = LabState.create(stateDir, { labId: plan.labId, mode, labFile: lab.file, ownerPid: process.pid });
  if (ownsStateDir) state.add({ kind: 'dir', path: stateDir });
  // The proxies run as uid 1337 in netns mode and must reach their files under the state dir:
  // others may traverse it, not list or write it.
  chmodSync(stateDir, 0o711);
  const logDir = path.join(stateDir, 'logs');
  // Everything the lab writes under the state dir, recorded so a given --state-dir is left as it was.
  for (const sub of ['logs', 'credentials', 'clusters', 'pods']) {
    const dir = path.join(stateDir, sub);
    if (!existsSync(dir)) {
      mkdirSync(dir, { mode: 0o755 });
      state.add({ kind: 'dir', path: dir });
    }
  }
  try {
    const summary: LabSummary = { ...(await bringUp(lab, plan, state, stateDir, logDir, progress, timeout)), modeReason: why };
    state.update({ status: 'ready', summary });
    return { ...summary, exec: summaryExec(summary), down: () => teardown(state, stateDir, progress) };
  } catch (err) {
    progress({ step: 'lab', status: 'fail', detail: (err as Error).message });
    if (opts.keepLogsOnFailure && existsSync(logDir)) {
      try {
        // Made here, 0700, failing if the name exists: a folder (or symlink) planted at a predictable
        // temp path must not receive root's copies.
        mkdirSync(opts.keepLogsOnFailure, { mode: 0o700 });
        cpSync(logDir, opts.keepLogsOnFailure, { recursive: true });
        progress({ step: 'logs', status: 'fail', detail: `kept in ${opts.keepLogsOnFailure}` });
      } catch (keepErr) {
        progress({ step: 'logs', status: 'fail', detail: `not kept in ${opts.keepLogsOnFailure}: ${(keepErr as Error).message}` });
      }
    }
    try {
      await teardown(state, stateDir, progress);
    } catch (cleanupErr) {
      progress({ step: 'cleanup', status: 'fail', detail: (cleanupErr as Error).message });
    }
    throw err;
  }
}

async function teardown(state: LabState, stateDir: string, progress: (e: LabProgress) => void): Promise<void> {
  progress({ step: 'down', status: 'start' });
  await state.teardown((line) => progress({ step: 'down', status: 'start', detail: line }));
  // A given state dir stays; closed to others again, so that the next `lab up` accepts it.
  if (existsSync(stateDir)) chmodSync(stateDir, 0o700);
  progress({ step: 'down', status: 'ready' });
}

async function bringUp(
  lab: LabFile,
  plan: LabPlan,
  state: LabState,
  stateDir: string,
  logDir: string,
  progress: (e: LabProgress) => void,
  timeout: number,
): Promise<LabSummary> {
  const meshgate = meshgateCommand();
  const proxyRuntime = lab.proxyRuntime ?? 'node';
  // The runtime's own executable, not `meshgate proxy --runtime`: the recorded pid is then the proxy itself.
  const proxyCommand = proxyRuntime === 'node' ? meshgate : meshgateArgv(proxyRuntime);
  if (plan.mode === 'netns') {
    progress({
      step: 'network',
      status: 'start',
      detail: `${plan.pods.length} pod namespaces, ${plan.clusters.length} cluster bridges, a WAN`,
    });
    createNetnsTopology(plan, state);
    progress({ step: 'network', status: 'ready' });
  }

  // Gateway credentials, made fresh by the lab's script (never committed).
  let secrets = new Map<string, object>();
  if (lab.credentials) {
    const out = path.join(stateDir, 'credentials');
    mkdirSync(out, { recursive: true, mode: 0o700 });
    progress({ step: 'credentials', status: 'start', detail: lab.credentials.script });
    const r = spawnSync('bash', [path.resolve(lab.dir, lab.credentials.script), out], {
      cwd: lab.dir,
      encoding: 'utf8',
      timeout: 120_000,
      // The script splits MESHGATE into words (no quoting), as a shell variable holding a command.
      env: { ...process.env, MESHGATE: meshgate.join(' ') },
    });
    if (r.status !== 0)
      throw new LabError(
        'E_LAB_START',
        `credentials script ${lab.credentials.script} failed (exit ${r.status ?? r.signal}):\n${(r.stderr || r.stdout).trim()}`,
      );
    secrets = readSecretsFolder(out);
    progress({ step: 'credentials', status: 'ready', detail: [...secrets.keys()].join(', ') });
  }

  const clusters: LabClusterInfo[] = [];
  const proxies: LabProxyInfo[] = [];
  const proxyProcesses = new Map<LabProxyInfo, Awaited<ReturnType<typeof startLabProcess>>>();
  const workloads: LabWorkloadInfo[] = [];
  const issuers = new Map<string, Awaited<ReturnType<typeof prepareCluster>>>();
  // loopback mode: where each sidecar-fronted application really listens (127.0.0.1:<free port>).
  const appPorts = new Map<string, Map<number, number>>();
  if (plan.mode === 'loopback') {
    for (const pod of plan.pods.filter((p) => p.kind === 'workload' && p.sidecar && p.ports.length > 0)) {
      const m = new Map<number, number>();
      for (const port of pod.ports) m.set(port, await freeLoopbackPort());
      appPorts.set(`${pod.cluster}/${pod.namespace}/${pod.name}`, m);
    }
  }
  for (const c of plan.clusters) {
    const prepared = await prepareCluster(lab, plan, c, stateDir, appPorts);
    issuers.set(c.name, prepared);
    writeClusterSecrets(
      prepared.paths,
      lab.clusters.find((lc) => lc.name === c.name)!,
      secrets,
    );
    if (plan.mode === 'netns') {
      // The control plane's HTTP port and each proxy's admin listen on loopback inside their own
      // namespace, where no pod can reach them; a relay per namespace, started inside it on a socket
      // bound here on the host's 127.b.k.n, is the lab's (and only the host's) way in.
      await startAdminRelay(state, logDir, `${c.name}/admin-relay`, c.netns!, [
        { listen: { host: c.controlPlaneHostAddress, port: CP_HTTP_PORT }, target: { host: '127.0.0.1', port: CP_HTTP_PORT } },
      ]);
      for (const pod of plan.pods.filter((p) => p.cluster === c.name && p.sidecar)) {
        await startAdminRelay(state, logDir, `${c.name}/${pod.namespace}/${pod.name}/admin-relay`, pod.netns!, [
          { listen: { host: pod.hostAddress, port: ADMIN_PORT }, target: { host: pod.adminAddress, port: ADMIN_PORT } },
        ]);
      }
    }
    let dns: LabClusterInfo['dns'];
    if (plan.dnsCapture) {
      progress({ step: `cluster DNS ${c.name}`, status: 'start', detail: `${c.dnsAddress}:53` });
      const proc = await startClusterDns(state, logDir, plan, c, prepared.paths.configDir, prepared.paths.root, timeout).catch(
        (err: unknown) => {
          throw new LabError('E_LAB_START', (err as Error).message);
        },
      );
      dns = { address: c.dnsAddress!, port: 53, pid: proc.pid };
      progress({ step: `cluster DNS ${c.name}`, status: 'ready', detail: `${c.dnsAddress}:53 in ${c.netns}` });
    }
    let kubeconfig: string | undefined;
    if (lab.configSource === 'kubernetes') {
      kubeconfig = path.join(prepared.paths.root, 'kubeconfig');
      progress({ step: `API server ${c.name}`, status: 'start', detail: `${c.controlPlaneAddress}:${KUBE_API_PORT}` });
      const api = await startLabProcess(state, logDir, {
        name: `${c.name}/apiserver`,
        argv: [
          ...meshgate,
          'apiserver-double',
          '--listen',
          `${c.controlPlaneAddress}:${KUBE_API_PORT}`,
          '--kubeconfig-out',
          kubeconfig,
          '--cluster-name',
          c.name,
        ],
      });
      const file = kubeconfig;
      await waitFor(`API server of ${c.name}`, timeout, async () => existsSync(file), exitedMessage(api.child, api.logFile));
      // What `istioctl install` and the user's `kubectl apply` (patches applied first) would have put there.
      const mesh = { ...defaultMeshConfig(), trustDomain: c.trustDomain };
      await applyObjects(kubeconfig, await folderObjects(prepared.paths.configDir, defaultInstallObjects(mesh)));
      progress({ step: `API server ${c.name}`, status: 'ready', detail: kubeconfig });
    }
    progress({ step: `control plane ${c.name}`, status: 'start', detail: `${c.controlPlaneAddress}:${XDS_PORT}` });
    const cp = await startLabProcess(state, logDir, {
      name: `${c.name}/control-plane`,
      ...(c.netns ? { netns: c.netns } : {}),
      argv: [
        ...meshgate,
        'control-plane',
        ...(kubeconfig !== undefined ? ['--kubeconfig', kubeconfig] : ['--config', prepared.paths.configDir]),
        '--cluster-id',
        c.name,
        '--trust-domain',
        c.trustDomain,
        '--listen',
        `${c.controlPlaneAddress}:${XDS_PORT}`,
        // netns: loopback of the cluster's namespace (the relay above); pods never reach /debug.
        '--http-listen',
        `${plan.mode === 'netns' ? '127.0.0.1' : c.controlPlaneAddress}:${CP_HTTP_PORT}`,
        '--state-dir',
        prepared.paths.controlPlaneDir,
        '--token-public-key',
        prepared.paths.tokenPublicKeyFile,
        '--token-issuer',
        prepared.paths.tokenIssuer,
      ],
    });
    const url = `http://${c.controlPlaneHostAddress}:${CP_HTTP_PORT}`;
    await waitFor(
      `control plane of ${c.name}`,
      timeout,
      async () => existsSync(path.join(prepared.paths.controlPlaneDir, 'root-cert.pem')) && (await httpOk(`${url}/ready`)),
      exitedMessage(cp.child, cp.logFile),
    );
    // The proxies (uid 1337 in netns mode) read the mesh root from here.
    chmodSync(prepared.paths.controlPlaneDir, 0o755);
    chmodSync(path.join(prepared.paths.controlPlaneDir, 'root-cert.pem'), 0o644);
    clusters.push({
      name: c.name,
      trustDomain: c.trustDomain,
      configDir: prepared.paths.configDir,
      ...(kubeconfig !== undefined ? { kubeconfig } : {}),
      controlPlaneUrl: url,
      controlPlanePid: cp.pid,
      ...(dns ? { dns } : {}),
    });
    progress({ step: `control plane ${c.name}`, status: 'ready', detail: url });
  }

  // Workloads first (a sidecar with nothing behind it is fine, but a client before its server is not).
  for (const pod of plan.pods.filter((p) => p.kind === 'workload')) {
    const info: LabWorkloadInfo = {
      name: pod.name,
      namespace: pod.namespace,
      cluster: pod.cluster,
      address: pod.address,
      ports: pod.ports,
      ...(pod.netns ? { netns: pod.netns } : {}),
    };
    workloads.push(info);
    if (!pod.run) continue;
    const key = `${pod.cluster}/${pod.namespace}/${pod.name}`;
    progress({ step: `workload ${key}`, status: 'start' });
    const paths = podPaths(stateDir, pod);
    mkdirSync(paths.dir, { recursive: true });
    if ('builtin' in pod.run) {
      const readyFile = path.join(paths.dir, 'workload-ready.json');
      const { bind, port } = appListen(plan, pod, appPorts);
      const runner = await startLabProcess(state, logDir, {
        name: `${key}/workload`,
        ...(pod.netns ? { netns: pod.netns } : {}),
        argv: [
          ...nodeEntry('workload-runner', import.meta.url),
          '--builtin',
          pod.run.builtin,
          '--bind',
          bind,
          '--port',
          String(port),
          '--ready-file',
          readyFile,
        ],
      });
      await waitFor(`workload ${key}`, timeout * 2, async () => existsSync(readyFile), exitedMessage(runner.child, runner.logFile));
      const ready = JSON.parse(readFileSync(readyFile, 'utf8')) as {
        kind: 'mariadb-server' | 'postgres-embedded';
        pid: number;
        socketPath: string;
      };
      // The database's own process too, so a lab down after a crashed runner still finds it.
      state.add({ kind: 'process', name: `${key}/database`, pid: ready.pid, startTime: processStartTime(ready.pid) ?? '' });
      state.add({ kind: 'dir', path: path.dirname(ready.socketPath) });
      info.pid = runner.pid;
      info.database = ready.kind;
      info.socketPath = ready.socketPath;
      progress({
        step: `workload ${key}`,
        status: 'ready',
        detail: `${ready.kind} on ${bind}:${port}${pod.netns ? ` in ${pod.netns}` : ''}`,
      });
    } else {
      const proc = await startLabProcess(state, logDir, {
        name: `${key}/workload`,
        ...(pod.netns ? { netns: pod.netns } : { hostsFile: paths.hostsFile }),
        argv: substitute(pod.run.command, pod, appListen(plan, pod, appPorts)),
        env: {
          POD_IP: pod.address,
          POD_NAME: pod.name,
          POD_NAMESPACE: pod.namespace,
          APP_BIND: appListen(plan, pod, appPorts).bind,
          APP_PORT: String(appListen(plan, pod, appPorts).port),
          ...pod.run.env,
        },
        cwd: lab.dir,
      });
      info.pid = proc.pid;
      progress({ step: `workload ${key}`, status: 'ready', detail: `pid ${proc.pid}` });
    }
  }

  // Proxies: capture rules first (netns sidecars), then the proxy, then wait for its /ready.
  for (const pod of plan.pods.filter((p) => p.sidecar)) {
    const key = `${pod.cluster}/${pod.namespace}/${pod.name}`;
    const cluster = plan.clusters.find((c) => c.name === pod.cluster)!;
    const { paths: cp, issuer } = issuers.get(pod.cluster)!;
    const paths = await preparePod(stateDir, plan, pod, issuer);
    const bootstrap = bootstrapFor(plan, pod, cp, paths);
    writeFileSync(paths.bootstrapFile, `${JSON.stringify(bootstrap, null, 2)}\n`, { mode: 0o644 });
    if (plan.mode === 'netns' && pod.kind === 'workload') {
      progress({ step: `capture ${key}`, status: 'start' });
      const r = spawnSync(
        meshgate[0]!,
        [
          ...meshgate.slice(1),
          'capture',
          '--netns',
          pod.netns!,
          '--proxy-uid',
          String(PROXY_UID),
          '--proxy-gid',
          String(PROXY_UID),
          '--inbound-ports',
          pod.ports.length > 0 ? pod.ports.join(',') : '',
          ...(plan.dnsCapture ? ['--dns', '--dns-servers', cluster.dnsAddress!] : []),
          '--state-dir',
          path.join(paths.dir, 'capture'),
        ],
        { encoding: 'utf8', timeout: 60_000 },
      );
      if (r.status !== 0) throw new LabError('E_LAB_START', `capture in ${pod.netns} failed: ${(r.stderr || r.stdout).trim()}`);
      progress({ step: `capture ${key}`, status: 'ready' });
    }
    progress({
      step: `proxy ${key}`,
      status: 'start',
      detail: `${bootstrap.node.role}${proxyRuntime === 'node' ? '' : ` (${proxyRuntime})`}`,
    });
    // netns: started as root so it can load the checkout wherever it lives (a 0700 home), then the
    // proxy drops to uid 1337 itself before opening a socket, which capture's owner match exempts.
    const proxy = await startLabProcess(state, logDir, {
      name: `${key}/proxy`,
      ...(pod.netns ? { netns: pod.netns } : { hostsFile: paths.hostsFile }),
      argv: [...proxyCommand, 'proxy', '--bootstrap', paths.bootstrapFile, ...(pod.netns ? ['--run-as', `${PROXY_UID}:${PROXY_UID}`] : [])],
    });
    const adminUrl = `http://${pod.hostAddress}:${ADMIN_PORT}`;
    const info: LabProxyInfo = {
      name: pod.name,
      namespace: pod.namespace,
      cluster: cluster.name,
      role: bootstrap.node.role,
      ...(pod.gateway ? { gateway: pod.gateway } : {}),
      address: pod.address,
      adminUrl,
      pid: proxy.pid,
      accessLog: paths.accessLogFile,
      ...(pod.netns ? { netns: pod.netns } : {}),
      runtime: proxyRuntime,
    };
    proxies.push(info);
    proxyProcesses.set(info, proxy);
  }
  for (const p of proxies) {
    const key = `${p.cluster}/${p.namespace}/${p.name}`;
    const proc = proxyProcesses.get(p)!;
    await waitFor(
      `proxy ${key}`,
      timeout,
      () => httpOk(`${p.adminUrl}/ready`),
      exitedMessage(proc.child, proc.logFile),
      () => notReadyReason(proc.logFile),
    );
    progress({ step: `proxy ${key}`, status: 'ready', detail: p.adminUrl });
  }
  const unbound = await collectUnboundListeners(proxies);

  let clientTarget: LabSummary['clientTarget'];
  if (lab.client) {
    const pod = plan.pods.find((p) => p.cluster === lab.client!.cluster && p.kind === 'workload' && p.name === lab.client!.workload)!;
    const [host, port] = [
      lab.client.target.slice(0, lab.client.target.lastIndexOf(':')),
      Number(lab.client.target.slice(lab.client.target.lastIndexOf(':') + 1)),
    ];
    const paths = podPaths(stateDir, pod);
    clientTarget =
      plan.mode === 'netns'
        ? { host, port, netns: pod.netns!, workload: pod.name, cluster: pod.cluster }
        : // loopback: the client's sidecar listens on the pod's own address; a client that cannot use
          // the pod's /etc/hosts (the benchmark's) connects there directly.
          { host: pod.sidecar ? pod.address : host, port, workload: pod.name, cluster: pod.cluster, hostsFile: paths.hostsFile };
  }
  return {
    labId: plan.labId,
    name: lab.name,
    mode: plan.mode,
    stateDir,
    labFile: lab.file,
    clusters,
    proxies,
    workloads,
    ...(clientTarget ? { clientTarget } : {}),
    loopbackNet: `127.${plan.loopbackOctet}.0.0/16`,
    ...(plan.wanNetns ? { wanNetns: plan.wanNetns } : {}),
    ...(lab.credentials ? { credentialsDir: path.join(stateDir, 'credentials') } : {}),
    bridgeNetns: plan.clusters.flatMap((c) => (c.netns ? [c.netns] : [])),
    ...(plan.mode === 'netns' ? { dnsCapture: plan.dnsCapture } : {}),
    ...(unbound.length > 0 ? { unboundListeners: unbound } : {}),
  };
}

/** The running lab recorded in a state dir (for `lab status`, `lab verify` and `lab exec` from another process). */
export function attachLab(stateDir: string): RunningLab & { status: string; owner: number } {
  const state = LabState.load(stateDir);
  const summary = state.value.summary as LabSummary | undefined;
  if (!summary) throw new LabError('E_LAB_NOT_RUNNING', `the lab in ${stateDir} is ${state.value.status}, with no summary yet`);
  return { ...summary, status: state.value.status, owner: state.value.ownerPid, exec: summaryExec(summary), down: () => downLab(stateDir) };
}

/** Removes everything the lab in `stateDir` recorded (processes, namespaces, links, files, temp dirs). */
export async function downLab(stateDir: string, onProgress?: (e: LabProgress) => void): Promise<void> {
  const state = LabState.load(stateDir);
  await teardown(state, stateDir, onProgress ?? ((): void => undefined));
}

export { clusterPaths };
