// `meshgate lab up|down|status|verify|sql|exec`: the local multi-cluster lab. Parsing and printing only;
// the work lives in src/lab/.
import type { Runtime } from '../shared/runtime.js';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { attachLab, downLab, upLab, type LabProgress, type LabSummary } from '../lab/lab.js';
import type { LabMode } from '../lab/lab-plan.js';
import { LabState } from '../lab/lab-state.js';
import { clientQueryCommand, execClientQuery, formatVerifyReport, verifyLab } from '../lab/verify.js';
import { fullLabHint, meshgateInvocation } from '../lab/lab-hints.js';
import { unboundListenersHint } from '../lab/unbound-listeners.js';
import { pidAlive } from '../lab/child-exit.js';
import { resolveStateDir } from './lab-locate.js';
import { outputHelp, parseOutputFormat, renderStructured } from './output-format.js';

const LAB_FORMATS = ['short', 'json', 'yaml'] as const;

class LabCliError extends Error {
  readonly code = 'E_LAB_CLI';
}

function printProgress(e: LabProgress): void {
  const mark = e.status === 'ready' ? 'ok  ' : e.status === 'fail' ? 'FAIL' : '... ';
  process.stderr.write(`${mark} ${e.step}${e.detail ? `: ${e.detail}` : ''}\n`);
}

export function formatSummary(s: LabSummary): string {
  const lines = [`lab ${s.name} (${s.labId}) is ready in ${s.mode} mode; state in ${s.stateDir}`, ''];
  lines.push('CLUSTER      CONTROL PLANE');
  for (const c of s.clusters) lines.push(`${c.name.padEnd(12)} ${c.controlPlaneUrl}  (config: ${c.configDir})`);
  lines.push('', 'PROXY'.padEnd(48) + 'ROLE     ADDRESS          ADMIN');
  for (const p of s.proxies)
    lines.push(`${`${p.cluster}/${p.namespace}/${p.name}`.padEnd(48)}${p.role.padEnd(9)}${p.address.padEnd(17)}${p.adminUrl}`);
  lines.push('', 'WORKLOAD'.padEnd(48) + 'ADDRESS          PORTS  RUNS');
  for (const w of s.workloads)
    lines.push(
      `${`${w.cluster}/${w.namespace}/${w.name}`.padEnd(48)}${w.address.padEnd(17)}${w.ports.join(',').padEnd(7)}${w.database ?? (w.pid ? `pid ${w.pid}` : 'idle')}`,
    );
  const mg = meshgateInvocation();
  if (s.clientTarget) {
    const t = s.clientTarget;
    lines.push(
      '',
      `client: connect to ${t.host}:${t.port} from ${t.cluster}/${t.workload}${t.netns ? ` (ip netns exec ${t.netns} ...)` : ''}`,
    );
    const client = s.workloads.some((w) => w.database !== undefined) ? clientQueryCommand(s, ['SELECT 1']).client : undefined;
    if (client !== undefined)
      lines.push(`query:  ${mg} lab sql --state-dir ${s.stateDir} "SELECT 1"    # through the chain, with ${client}`);
    if (client === 'mariadb')
      lines.push(
        `shell:  ${mg} lab exec --state-dir ${s.stateDir} -- mariadb --no-defaults -h ${t.host} -P ${t.port} -u meshgate -pmeshgate sbtest`,
      );
  }
  lines.push(`verify: ${mg} lab verify --state-dir ${s.stateDir}`, `stop:   ${mg} lab down --state-dir ${s.stateDir}`);
  const hint = fullLabHint(s);
  if (hint !== undefined) lines.push('', `note:   ${hint}`);
  const unbound = unboundListenersHint(s.unboundListeners ?? []);
  if (unbound !== undefined) lines.push(`${hint === undefined ? '\n' : ''}note:   ${unbound}`);
  return `${lines.join('\n')}\n`;
}

export function registerLabCommands(program: Command): Command {
  const lab = program
    .command('lab')
    .description('a whole multi-cluster mesh on this machine: control planes, gateways, sidecars and real workloads');

  lab
    .command('up')
    .argument('<dir>', 'the lab folder (holding lab.yaml) or the lab file')
    .option('--mode <mode>', 'netns or loopback (default: netns when root with ip and iptables, else loopback)')
    .option('--state-dir <dir>', 'where state, logs, config folders and tokens go')
    .option(
      '--config-source <source>',
      "directory (each control plane watches its cluster's folder) or kubernetes (an API-server double per cluster, loaded with that folder; loopback mode); default: the lab file's configSource",
    )
    .option(
      '--proxy-runtime <runtime>',
      "node or bun: the runtime every proxy runs under (default: the lab file's proxyRuntime, else node)",
    )
    .option('--detach', 'return once the lab is ready; stop it with "lab down"')
    .option('--no-verify', 'in the foreground: skip the first query through the chain')
    .option('-o, --output <format>', `the summary: ${outputHelp(LAB_FORMATS)}`, 'short')
    .description(
      'bring the lab up; in the foreground it runs one query through the chain (as "lab verify"), then runs until Ctrl-C, which tears everything down',
    )
    .action(
      async (
        dir: string,
        opts: {
          mode?: string;
          stateDir?: string;
          configSource?: string;
          proxyRuntime?: string;
          detach?: boolean;
          verify: boolean;
          output: string;
        },
      ) => {
        if (opts.proxyRuntime !== undefined && opts.proxyRuntime !== 'node' && opts.proxyRuntime !== 'bun')
          throw new LabCliError(`--proxy-runtime must be node or bun, got "${opts.proxyRuntime}"`);
        if (opts.configSource !== undefined && opts.configSource !== 'directory' && opts.configSource !== 'kubernetes')
          throw new LabCliError(`--config-source must be directory or kubernetes, got "${opts.configSource}"`);
        const format = parseOutputFormat(opts.output, LAB_FORMATS, 'lab up');
        if (opts.mode !== undefined && opts.mode !== 'netns' && opts.mode !== 'loopback')
          throw new LabCliError(`--mode must be netns or loopback, got "${opts.mode}"`);
        // A failed start tears everything down; its logs are worth keeping to find out why.
        const keepLogsOnFailure = path.join(os.tmpdir(), `meshgate-lab-failed-${process.pid}-logs`);
        const running = await upLab({
          labFile: dir,
          ...(opts.mode ? { mode: opts.mode as LabMode } : {}),
          ...(opts.stateDir ? { stateDir: opts.stateDir } : {}),
          ...(opts.configSource ? { configSource: opts.configSource as 'directory' | 'kubernetes' } : {}),
          ...(opts.proxyRuntime ? { proxyRuntime: opts.proxyRuntime as Runtime } : {}),
          onProgress: printProgress,
          keepLogsOnFailure,
        });
        const { exec: _exec, down: _down, ...summary } = running;
        if (opts.detach) {
          process.stdout.write(format === 'short' ? formatSummary(summary) : renderStructured(summary, format));
          // Every lab process runs in its own session with its output in the state dir's logs.
          process.exit(0);
        }
        // From here on Ctrl-C / SIGTERM tears the lab down (after the first query, if it is running), and
        // so does the exit of the process that started it: `npm start` dies of a SIGTERM without passing
        // it on (its `sh -c` child does not either), which would otherwise leave the lab running orphaned.
        const parent = process.ppid;
        const stopRequested = new Promise<void>((resolve) => {
          const orphaned = setInterval(() => {
            if (process.ppid === parent) return;
            process.stderr.write(`the process that started lab up (pid ${parent}) exited; stopping the lab\n`);
            stop();
          }, 1_000);
          const stop = (): void => {
            clearInterval(orphaned);
            resolve();
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        let stopping = false;
        void stopRequested.then(() => (stopping = true));
        if (format === 'short') process.stdout.write(formatSummary(summary));
        // Show that it works: one query from the client pod through every proxy, each leg's TLS and
        // identities, as `lab verify` reports them (the wire check only where tcpdump can run).
        const report = opts.verify ? await verifyLab(running, { wireCheck: 'if-available', timeoutMs: 30_000 }) : undefined;
        if (format !== 'short') process.stdout.write(renderStructured(report ? { ...summary, verify: report } : summary, format));
        else if (report) process.stdout.write(`\n${formatVerifyReport(report)}`);
        if (report && !report.passed) {
          process.stderr.write(`the first query through the lab failed; logs in ${path.join(running.stateDir, 'logs')}\n`);
          process.exitCode = 1;
        }
        if (!stopping) process.stderr.write('lab is running; Ctrl-C stops it\n');
        await new Promise<void>((resolve) => {
          const reported = new Set<number>();
          void stopRequested.then(resolve);
          // Say so when a lab process dies on its own (its log says why).
          const timer = setInterval(() => {
            const state = LabState.load(running.stateDir);
            for (const r of state.value.resources)
              if (r.kind === 'process' && !pidAlive(r.pid) && !reported.has(r.pid)) {
                reported.add(r.pid);
                process.stderr.write(`warning: ${r.name} (pid ${r.pid}) exited; see ${path.join(running.stateDir, 'logs')}\n`);
              }
          }, 2_000);
          void stopRequested.then(() => clearInterval(timer));
        });
        await running.down();
      },
    );

  lab
    .command('down')
    .argument('[dir]', 'the lab folder (to find its default state dir)')
    .option('--state-dir <dir>', 'the state dir given to "lab up"')
    .description('stop everything the lab recorded: processes, namespaces, links, files, temp dirs')
    .action(async (dir: string | undefined, opts: { stateDir?: string }) => {
      await downLab(resolveStateDir(dir, opts.stateDir), printProgress);
    });

  lab
    .command('status')
    .argument('[dir]', 'the lab folder')
    .option('--state-dir <dir>', 'the state dir given to "lab up"')
    .option('-o, --output <format>', outputHelp(LAB_FORMATS), 'short')
    .description('what the lab runs, and whether each process is alive')
    .action((dir: string | undefined, opts: { stateDir?: string; output: string }) => {
      const format = parseOutputFormat(opts.output, LAB_FORMATS, 'lab status');
      const stateDir = resolveStateDir(dir, opts.stateDir);
      const state = LabState.load(stateDir);
      const processes = state.value.resources.flatMap((r) =>
        r.kind === 'process' ? [{ name: r.name, pid: r.pid, alive: pidAlive(r.pid) }] : [],
      );
      if (format !== 'short') {
        process.stdout.write(
          renderStructured(
            {
              labId: state.value.labId,
              status: state.value.status,
              mode: state.value.mode,
              stateDir,
              processes,
              summary: state.value.summary ?? null,
            },
            format,
          ),
        );
        return;
      }
      const lines = [
        `lab ${state.value.labId}: ${state.value.status} (${state.value.mode} mode), state in ${stateDir}`,
        '',
        'PROCESS'.padEnd(60) + 'PID      STATE',
      ];
      for (const p of processes) lines.push(`${p.name.padEnd(60)}${String(p.pid).padEnd(9)}${p.alive ? 'running' : 'exited'}`);
      const counts = new Map<string, number>();
      for (const r of state.value.resources) counts.set(r.kind, (counts.get(r.kind) ?? 0) + 1);
      lines.push('', `recorded: ${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')}`);
      process.stdout.write(`${lines.join('\n')}\n`);
      if (processes.some((p) => !p.alive)) process.exitCode = 1;
    });

  lab
    .command('verify')
    .argument('[dir]', 'the lab folder')
    .option('--state-dir <dir>', 'the state dir given to "lab up"')
    .option('-o, --output <format>', outputHelp(LAB_FORMATS), 'short')
    .description(
      'drive a query through the mesh and prove the path: every TLS leg, identities, issuers, bytes, and no plaintext on the wire',
    )
    .action(async (dir: string | undefined, opts: { stateDir?: string; output: string }) => {
      const format = parseOutputFormat(opts.output, LAB_FORMATS, 'lab verify');
      const running = attachLab(resolveStateDir(dir, opts.stateDir));
      const report = await verifyLab(running);
      process.stdout.write(format === 'short' ? formatVerifyReport(report) : renderStructured(report, format));
      if (!report.passed) process.exitCode = 1;
    });

  lab
    .command('sql')
    .argument('<sql>', 'the statement(s), e.g. "SELECT 1"')
    .option('--lab <dir>', 'the lab folder (to find its default state dir)')
    .option('--state-dir <dir>', 'the state dir given to "lab up"')
    .description(
      "run SQL through the chain from the client pod with the lab database's client (mariadb, or node-postgres for the embedded PostgreSQL); rows tab-separated",
    )
    .action(async (sql: string, opts: { lab?: string; stateDir?: string }) => {
      const running = attachLab(resolveStateDir(opts.lab, opts.stateDir));
      const r = await execClientQuery(running, [sql]);
      process.stdout.write(r.out);
      process.stderr.write(r.err);
      process.exitCode = r.code;
    });

  lab
    .command('exec')
    .argument('<command...>', 'the command to run in the client pod (after --)')
    .option('--lab <dir>', 'the lab folder (to find its default state dir)')
    .option('--state-dir <dir>', 'the state dir given to "lab up"')
    .description('run a command in the client pod (its network namespace and /etc/hosts), like kubectl exec')
    .action(async (command: string[], opts: { lab?: string; stateDir?: string }) => {
      const running = attachLab(resolveStateDir(opts.lab, opts.stateDir));
      const child = running.exec(command, { stdio: 'inherit' });
      const code = await new Promise<number>((resolve) => child.once('close', (c) => resolve(c ?? 1)));
      process.exitCode = code;
    });
  return lab;
}
