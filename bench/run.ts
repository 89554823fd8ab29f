// `npm run bench`: the seed's four-proxy chain built twice in one run — meshgate's (the lab, configured
// over xDS from the example's Istio YAML) and HAProxy's (same key type, TLS 1.3, client certificates
// on every leg) — plus a direct path, the same loads against each, interleaved and repeated; one table,
// raw JSON lines in bench/results/, and bench/results/latest.json for tools.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEchoServer, startIperfServer, type RunningBackend } from './backends.js';
import { generateBenchCertificates, issueIngressServerCredential, MYSQL_SNI, type BenchCertificates } from './certs.js';
import { runControlPlaneBench } from './controlplane/run.js';
import { startHaproxyChain, type HaproxyChain } from './haproxy-chain.js';
import { openIdleConnections } from './loads/idle.js';
import { runIperf } from './loads/iperf.js';
import { runChurn } from './loads/churn.js';
import { measureRotation, type RotationHook } from './loads/rotation.js';
import { prepareSysbench, runSysbench, type MySqlTarget } from './loads/sysbench.js';
import { describeMachine } from './machine.js';
import { startMeshgateChain, type MeshgateChain } from './meshgate-chain.js';
import { freePorts } from './ports.js';
import { ProcessGroup } from './processes.js';
import { measureCpu, rssKb } from './procstat.js';
import { createResultWriter, MESHGATE_UNDER, missingFigures, renderTable, summarize, type Sample, type SampleChain } from './results.js';
import { CHAINLESS_LOADS, figureSpecs, helpText, parseArgs, type BenchConfig } from './run-config.js';
import { hopConfig, missingHopFigures, renderHopTable, runHopPhase, summarizeHop, type HopSample } from './hop/phase.js';
import { startMariaDb } from '../src/lab/mariadb.js';
import { packageRoot } from '../src/shared/package-root.js';
import type { Runtime } from '../src/shared/runtime.js';

interface ChainUnderTest {
  kind: SampleChain;
  target: { host: string; port: number };
  /** The four proxies' pids (none for direct), in path order. */
  pids: number[];
  /** Their names, in the same order. */
  names: string[];
  rotation?: RotationHook;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (line: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

/** Each proxy's share of a measurement, by name, so a run's record shows which hop the CPU went to. */
function byName(chain: ChainUnderTest, each: number[]): Record<string, number> {
  return Object.fromEntries(chain.names.map((n, i) => [n, Math.round(each[i]! * 100) / 100]));
}

/** meshgate first on even repeats, HAProxy first on odd ones; direct last (it has no proxies to warm). */
function order(chains: ChainUnderTest[], repeat: number): ChainUnderTest[] {
  const proxied = chains.filter((c) => c.kind !== 'direct');
  if (repeat % 2 === 1) proxied.reverse();
  return [...proxied, ...chains.filter((c) => c.kind === 'direct')];
}

/**
 * MESHGATE_BENCH_PROFILE=DIR: while `fn` runs on the meshgate chain in the first repeat, a CPU profile of
 * one of its proxies is taken for `seconds` into DIR (bench/profile-proxy.ts): the egress gateway (the proxy
 * with two TLS legs) unless MESHGATE_BENCH_PROFILE_PROXY names another by its place on the path (0 the
 * client's sidecar, 1 the egress gateway, 2 the ingress gateway, 3 the server's sidecar).
 */
async function withProxyProfile<T>(
  chain: ChainUnderTest,
  repeat: number,
  label: string,
  seconds: number,
  fn: () => Promise<T>,
): Promise<T> {
  const dir = process.env.MESHGATE_BENCH_PROFILE;
  if (!dir || chain.kind !== 'meshgate' || repeat !== 0 || chain.pids.length < 2) return fn();
  const index = Number(process.env.MESHGATE_BENCH_PROFILE_PROXY ?? '1');
  const pid = chain.pids[index];
  if (!Number.isInteger(index) || pid === undefined)
    throw new Error(`MESHGATE_BENCH_PROFILE_PROXY must be a place on the path, 0 to ${chain.pids.length - 1}`);
  const name = chain.names[index]!.replaceAll('/', '-');
  const script = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './profile-proxy.ts' : './profile-proxy.js', import.meta.url));
  const out = path.join(dir, `meshgate-${name}-${label}.cpuprofile`);
  const group = new ProcessGroup();
  const proc = group.start('profiler', process.execPath, [
    ...(script.endsWith('.ts') ? process.execArgv : []),
    '--experimental-websocket',
    script,
    String(pid),
    String(seconds),
    out,
  ]);
  try {
    return await fn();
  } finally {
    const { code } = await proc.exited;
    log(code === 0 ? `profile of ${chain.names[index]} during ${label}: ${out}` : `profiling failed: ${proc.output()}`);
  }
}

class Run {
  readonly samples: Sample[] = [];
  readonly problems: string[] = [];
  constructor(
    readonly config: BenchConfig,
    readonly record: (entry: Record<string, unknown>) => Promise<void>,
  ) {}

  async add(chain: SampleChain, repeat: number, load: string, values: Record<string, number>, raw: object): Promise<void> {
    for (const [figure, value] of Object.entries(values)) this.samples.push({ figure, chain, repeat, value });
    await this.record({ kind: 'sample', chain, repeat, load, figures: values, raw });
  }

  async attempt(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      const e = err as { code?: string; message?: string };
      const msg = `${what}: ${e.code ? `[${e.code}] ` : ''}${e.message ?? String(err)}`;
      this.problems.push(msg);
      log(`FAILED ${msg}`);
      await this.record({ kind: 'failure', what, error: msg });
    }
  }
}

async function sysbenchPhase(run: Run, chains: ChainUnderTest[], backend: { host: string; port: number }): Promise<void> {
  const c = run.config;
  log(`MariaDB on ${backend.host}:${backend.port}`);
  const db = await startMariaDb({ bindAddress: backend.host, port: backend.port });
  try {
    const direct: MySqlTarget = { host: backend.host, port: backend.port, user: 'meshgate', password: 'meshgate', database: 'sbtest' };
    await prepareSysbench(direct, c.sysbench.tableSize);
    for (let r = 0; r < c.repeats; r++) {
      for (const chain of order(chains, r)) {
        const target = { ...direct, host: chain.target.host, port: chain.target.port };
        if (c.loads.includes('sysbench')) {
          for (const threads of c.sysbench.threads) {
            await run.attempt(`sysbench t=${threads} ${chain.kind}`, async () => {
              if (c.sysbench.warmupSeconds > 0)
                await runSysbench(target, { threads, seconds: c.sysbench.warmupSeconds, tableSize: c.sysbench.tableSize });
              const { result, cpuSeconds, cpuSecondsEach } = await measureCpu(chain.pids, () =>
                runSysbench(target, { threads, seconds: c.sysbench.seconds, tableSize: c.sysbench.tableSize }),
              );
              log(`sysbench t=${threads} ${chain.kind}: ${result.qps.toFixed(0)} qps, p95 ${result.p95Ms} ms, errors ${result.errors}`);
              const n = `sysbench_point_select_t${threads}`;
              await run.add(
                chain.kind,
                r,
                'sysbench',
                { [`${n}_qps`]: result.qps, [`${n}_avg_ms`]: result.avgMs, [`${n}_p95_ms`]: result.p95Ms, [`${n}_p99_ms`]: result.p99Ms },
                { ...result, proxyCpuSeconds: cpuSeconds, proxyCpuSecondsEach: byName(chain, cpuSecondsEach) },
              );
            });
          }
        }
        if (c.loads.includes('rotation') && chain.kind !== 'direct') {
          await run.attempt(`rotation ${chain.kind}`, async () => {
            if (!chain.rotation) throw new Error(`no rotation hook for the ${chain.kind} chain`);
            const res = await measureRotation({
              probe: chain.rotation.probe,
              query: target,
              prepare: () => chain.rotation!.prepare(),
              rotations: c.rotation.rotations,
            });
            const each = res.rotationsMs.map((ms) => ms.toFixed(0)).join(', ');
            log(
              `rotation ${chain.kind}: median ${res.rotationMs.toFixed(0)} ms (${each}), ${res.failedQueries}/${res.queries} queries failed`,
            );
            if (!Number.isFinite(res.rotationMs))
              throw new Error(`the new credential was not presented within 30 s (${res.failedQueries}/${res.queries} queries failed)`);
            await run.add(chain.kind, r, 'rotation', { rotation_ms: res.rotationMs, rotation_failed_queries: res.failedQueries }, res);
          });
        }
      }
    }
  } finally {
    await db.stop();
  }
}

async function bulkPhase(run: Run, chains: ChainUnderTest[], backend: { host: string; port: number }): Promise<void> {
  const iperf = await startIperfServer(backend.host, backend.port);
  try {
    for (let r = 0; r < run.config.repeats; r++) {
      for (const chain of order(chains, r)) {
        for (const direction of ['upload', 'download'] as const) {
          await run.attempt(`iperf3 ${direction} ${chain.kind}`, async () => {
            const { result, cpuSeconds, cpuSecondsEach } = await withProxyProfile(
              chain,
              r,
              `bulk-${direction}`,
              Math.max(1, run.config.bulk.seconds - 1),
              () =>
                measureCpu(chain.pids, () =>
                  runIperf({ ...chain.target, seconds: run.config.bulk.seconds, reverse: direction === 'download' }),
                ),
            );
            const gib = result.bytes / 2 ** 30;
            log(
              `iperf3 ${direction} ${chain.kind}: ${result.megabytesPerSecond.toFixed(0)} MB/s${chain.pids.length ? `, ${(cpuSeconds / gib).toFixed(2)} CPU-s/GiB` : ''}`,
            );
            const values: Record<string, number> = { [`bulk_${direction}_mb_per_s`]: result.megabytesPerSecond };
            if (chain.pids.length > 0) values[`bulk_${direction}_cpu_s_per_gib`] = cpuSeconds / gib;
            await run.add(chain.kind, r, 'bulk', values, {
              ...result,
              direction,
              proxyCpuSeconds: cpuSeconds,
              proxyCpuSecondsEach: byName(chain, cpuSecondsEach),
            });
          });
          await sleep(300); // iperf3's server takes a moment to accept the next test
        }
      }
    }
  } finally {
    await iperf.stop();
  }
}

async function echoPhase(run: Run, chains: ChainUnderTest[], backend: { host: string; port: number }): Promise<void> {
  const c = run.config;
  const echo: RunningBackend = await startEchoServer(backend.host, backend.port);
  try {
    for (let r = 0; r < c.repeats; r++) {
      for (const chain of order(chains, r)) {
        if (c.loads.includes('churn')) {
          await run.attempt(`churn ${chain.kind}`, async () => {
            await runChurn({ ...chain.target, connections: c.churn.warmup, concurrency: c.churn.concurrency });
            const { result, cpuSeconds, cpuSecondsEach } = await withProxyProfile(chain, r, 'churn', c.quick ? 1 : 5, () =>
              measureCpu(chain.pids, () =>
                runChurn({ ...chain.target, connections: c.churn.connections, concurrency: c.churn.concurrency }),
              ),
            );
            log(
              `churn ${chain.kind}: ${result.connsPerSecond.toFixed(0)} conn/s, p95 ${result.p95Ms.toFixed(1)} ms, ${result.failures} failures`,
            );
            if (result.failures > 0) throw new Error(`${result.failures} of ${c.churn.connections} connections failed`);
            const values: Record<string, number> = { churn_conns_per_s: result.connsPerSecond, churn_p95_ms: result.p95Ms };
            if (chain.pids.length > 0) values.churn_cpu_ms_per_conn = (cpuSeconds * 1000) / result.connections;
            await run.add(chain.kind, r, 'churn', values, {
              ...result,
              proxyCpuSeconds: cpuSeconds,
              proxyCpuSecondsEach: byName(chain, cpuSecondsEach),
            });
          });
        }
        // Idle scale in the first repeat only: a proxy keeps the memory of an earlier 10,000-connection
        // run in its allocator pools, so a later (RSS after − RSS before) would understate the cost.
        if (c.loads.includes('idle') && chain.pids.length > 0 && r === 0) {
          for (const count of c.idle.counts) {
            await run.attempt(`idle ${count} ${chain.kind}`, async () => {
              const before = chain.pids.map(rssKb);
              const idle = await openIdleConnections({ ...chain.target, count, concurrency: c.idle.concurrency });
              try {
                if (idle.established < count)
                  throw new Error(`only ${idle.established} of ${count} idle connections opened (${idle.failures} failed)`);
                await sleep(2000); // let every proxy finish its per-connection allocations
                const after = chain.pids.map(rssKb);
                const perProxy = after.map((a, i) => (a - before[i]!) / count);
                const mean = perProxy.reduce((s, x) => s + x, 0) / perProxy.length;
                log(`idle ${count} ${chain.kind}: ${mean.toFixed(1)} kB/conn/proxy (${perProxy.map((x) => x.toFixed(1)).join(', ')})`);
                await run.add(
                  chain.kind,
                  r,
                  'idle',
                  { [`idle_${count}_kb_per_conn_per_proxy`]: mean, [`idle_${count}_rss_mb_max_proxy`]: Math.max(...after) / 1024 },
                  { count, rssBeforeKb: before, rssAfterKb: after, kbPerConnPerProxy: perProxy },
                );
              } finally {
                await idle.release();
                await sleep(1000);
              }
            });
          }
        }
      }
    }
  } finally {
    await echo.stop();
  }
}

function haproxyUnderTest(chain: HaproxyChain, certs: BenchCertificates): ChainUnderTest {
  return {
    kind: 'haproxy',
    target: chain.clientTarget,
    pids: chain.proxies.map((p) => p.pid),
    names: chain.proxies.map((p) => p.name),
    rotation: {
      probe: {
        ...chain.ingressTarget,
        servername: MYSQL_SNI,
        caPem: certs.root.certPem,
        certPem: certs.egressClient.certPem,
        keyPem: certs.egressClient.keyPem,
      },
      async prepare() {
        const leaf = await issueIngressServerCredential(certs.root);
        return { serial: leaf.serialHex, replace: () => chain.writeIngressCredential(leaf) };
      },
    },
  };
}

function meshgateUnderTest(chain: MeshgateChain, kind: SampleChain): ChainUnderTest {
  return {
    kind,
    target: chain.clientTarget,
    pids: chain.proxies.map((p) => p.pid),
    names: chain.proxies.map((p) => p.name),
    rotation: chain.rotation,
  };
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText());
    return 0;
  }
  const root = packageRoot();
  const config = parseArgs(argv, path.join(root, 'bench', 'results'));
  const writer = await createResultWriter(config.resultsDir);
  const machine = describeMachine(root);
  await writer.record({ kind: 'start', config, machine });
  const run = new Run(config, (e) => writer.record(e));
  log(
    `run ${writer.runId}${config.quick ? ' (quick)' : ''}: ${config.repeats} repeat(s), loads ${config.loads.join(', ')}; raw results → ${writer.rawFile}`,
  );
  log(
    `file-descriptor limit ${machine.nofileLimit} (not raisable here without CAP_SYS_RESOURCE): idle counts ${config.idle.counts.join(' and ')}`,
  );

  const stops: (() => Promise<void>)[] = [];
  let hopSamples: HopSample[] | undefined;
  const onSignal = (): void => {
    log('interrupted: stopping every process this run started');
    void Promise.allSettled(stops.map((s) => s())).then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // One set of certificates for both chains: the same R root and gateway credentials on the WAN leg.
    const certs = await generateBenchCertificates();
    const dataLoads = config.loads.filter((l) => !CHAINLESS_LOADS.includes(l));
    // One pass per runtime of the meshgate chain (`--runtimes node,bun`), each with a lab of its own; HAProxy
    // and the direct path run in the first pass, interleaved with it, and are the reference of every pass.
    const passes: (Runtime | undefined)[] = config.chains.includes('meshgate') ? config.runtimes : [undefined];
    for (const [pass, runtime] of passes.entries()) {
      if (dataLoads.length === 0) break;
      const chains: ChainUnderTest[] = [];
      let backend: { host: string; port: number } | undefined;
      if (runtime !== undefined) {
        await run.attempt(`meshgate chain (${runtime})`, async () => {
          log(`starting the meshgate chain (lab, loopback mode, proxies under ${runtime})`);
          const mg = await startMeshgateChain({ certs, onProgress: log, proxyRuntime: runtime });
          stops.push(() => mg.stop());
          backend = mg.backend;
          chains.push(meshgateUnderTest(mg, MESHGATE_UNDER[runtime]));
          log(
            `meshgate chain (${runtime}) ready: client → ${mg.clientTarget.host}:${mg.clientTarget.port}, backend ${mg.backend.host}:${mg.backend.port}`,
          );
        });
      }
      backend ??= { host: '127.0.0.1', port: (await freePorts(1))[0]! };
      if (pass === 0 && config.chains.includes('haproxy')) {
        await run.attempt('HAProxy chain', async () => {
          const hp = await startHaproxyChain({ certs, backend: backend!, watchIngressCredential: true });
          stops.push(() => hp.stop());
          chains.push(haproxyUnderTest(hp, certs));
          log(
            `HAProxy chain ready: client → ${hp.clientTarget.host}:${hp.clientTarget.port}, pids ${hp.proxies.map((p) => p.pid).join(', ')}`,
          );
        });
      }
      if (pass === 0 && config.chains.includes('direct')) chains.push({ kind: 'direct', target: backend, pids: [], names: [] });

      if (chains.length > 0) {
        if (config.loads.includes('sysbench') || config.loads.includes('rotation'))
          await run.attempt('MariaDB phase', () => sysbenchPhase(run, chains, backend!));
        if (config.loads.includes('bulk')) await run.attempt('bulk phase', () => bulkPhase(run, chains, backend!));
        if (config.loads.includes('churn') || config.loads.includes('idle'))
          await run.attempt('echo phase', () => echoPhase(run, chains, backend!));
      }
      await Promise.allSettled(stops.splice(0).map((s) => s()));
    }

    if (config.loads.includes('hop')) {
      await run.attempt('single-hop load', async () => {
        hopSamples = await runHopPhase(certs, hopConfig(config.quick, config.repeats), {
          log,
          record: (relay, repeat, values, raw) => writer.record({ kind: 'sample', relay, repeat, load: 'hop', figures: values, raw }),
          attempt: (what, fn) => run.attempt(what, fn),
        });
      });
    }

    if (config.loads.includes('controlplane')) {
      await run.attempt('control-plane benchmark', async () => {
        const cp = await runControlPlaneBench({ services: config.controlPlane.services, clients: config.controlPlane.clients, log });
        const values: Record<string, number> = {
          controlplane_first_push_s: cp.firstPushSeconds,
          controlplane_rss_mb: cp.rssMb,
          controlplane_cpu_s: cp.cpuSeconds,
        };
        if (Number.isFinite(cp.changeSeconds)) values.controlplane_change_s = cp.changeSeconds;
        await run.add('meshgate', 0, 'controlplane', values, cp);
        if (!Number.isFinite(cp.changeSeconds))
          throw new Error(`a one-object change did not reach all ${cp.clients} clients within 120 s (${cp.changeReached} did)`);
      });
    }
  } finally {
    await Promise.allSettled(stops.map((s) => s()));
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const specs = figureSpecs(config);
  const figures = summarize(specs, run.samples);
  const hop = config.loads.includes('hop') ? summarizeHop(hopSamples ?? []) : undefined;
  const latest = await writer.writeLatest({
    date: new Date().toISOString(),
    machine,
    quick: config.quick,
    figures,
    ...(hop ? { hop } : {}),
  });
  if (figures.length > 0) process.stdout.write(`\n${renderTable(specs, figures, run.samples)}\n\n`);
  if (hop)
    process.stdout.write(
      `\n${renderHopTable(hop, hopSamples ?? [])}\n\nsingle hop: median of ${config.repeats} run(s) (idle: first only); m/bare = meshgate / bare Node relay, m/H = meshgate / HAProxy\n\n`,
    );
  if (figures.length > 0)
    process.stdout.write(`median of ${config.repeats} run(s); ratio = meshgate / HAProxy; spread = (max − min) / median\n`);
  process.stdout.write(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryMb} MB, Linux ${machine.kernel}\n`);
  process.stdout.write(
    `versions: ${Object.entries(machine.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join('; ')}\n`,
  );
  process.stdout.write(`results: ${latest} and ${writer.rawFile}\n`);
  const missing = [...missingFigures(specs, figures, config.chains, config.runtimes), ...(hop ? missingHopFigures(hop) : [])];
  if (run.problems.length > 0) process.stdout.write(`\nproblems:\n${run.problems.map((p) => `  - ${p}`).join('\n')}\n`);
  if (missing.length > 0) {
    process.stdout.write(`\nmissing figures (${missing.length}): ${missing.join(', ')}\n`);
    return 1;
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const e = err as { code?: string; message?: string };
    process.stderr.write(`bench: ${e.code ? `[${e.code}] ` : ''}${e.message ?? String(err)}\n`);
    process.exit(1);
  },
);
