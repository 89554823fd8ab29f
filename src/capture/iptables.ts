// Applying and removing the capture rules in a network namespace, as istio-iptables does: the whole
// set goes in with one `iptables-restore --noflush` per address family (atomic per table), and
// cleanup removes exactly those rules and chains. What was applied is recorded in a state file keyed
// by the network namespace, so `--cleanup` removes what is there even if the flags changed since.
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runCommand, findExecutable, type CommandRunner } from './command.js';
import { CaptureError } from './errors.js';
import {
  CAPTURE_CHAINS,
  buildCaptureRules,
  chainsByTable,
  isBuiltinChain,
  restoreLines,
  type CaptureConfig,
  type CaptureRuleSet,
  type IptablesRule,
} from './iptables-rules.js';
import { isEmptyTable, parseIptablesSave } from './iptables-save.js';

export type IptablesBackend = 'nft' | 'legacy';

/** The iptables programs for one backend and address family. */
export interface IptablesTools {
  backend: IptablesBackend;
  family: 4 | 6;
  iptables: string;
  restore: string;
  save: string;
  /** `iptables --version` output, e.g. `iptables v1.8.9 (nf_tables)`. */
  version: string;
}

export interface IptablesOptions {
  /** 'auto' (default): the backend that already holds rules, else the one `iptables` points at. */
  backend?: 'auto' | IptablesBackend;
  /** Run inside this named network namespace instead of the current one. */
  netns?: string;
  /** Where applied rule sets are recorded (default /run/meshgate/capture). */
  stateDir?: string;
  run?: CommandRunner;
}

export const DEFAULT_STATE_DIR = '/run/meshgate/capture';

const TOOL_NAMES: Record<IptablesBackend, Record<4 | 6, [string, string, string]>> = {
  nft: {
    4: ['iptables-nft', 'iptables-nft-restore', 'iptables-nft-save'],
    6: ['ip6tables-nft', 'ip6tables-nft-restore', 'ip6tables-nft-save'],
  },
  legacy: {
    4: ['iptables-legacy', 'iptables-legacy-restore', 'iptables-legacy-save'],
    6: ['ip6tables-legacy', 'ip6tables-legacy-restore', 'ip6tables-legacy-save'],
  },
};

/** Finds the iptables programs, telling nf_tables from legacy by `--version`, as istio-iptables does. */
export async function detectIptables(family: 4 | 6 = 4, opts: IptablesOptions = {}): Promise<IptablesTools> {
  const run = opts.run ?? runCommand;
  const prefix = family === 4 ? 'iptables' : 'ip6tables';
  const candidates: Partial<Record<IptablesBackend, IptablesTools>> = {};
  for (const backend of ['nft', 'legacy'] as const) {
    const [ipt, restore, save] = TOOL_NAMES[backend][family].map((n) => findExecutable(n));
    if (ipt && restore && save) candidates[backend] = { backend, family, iptables: ipt, restore, save, version: '' };
  }
  // Distributions without the -nft/-legacy names ship one backend under the plain names.
  const plain = findExecutable(prefix);
  if (plain) {
    const v = await run(plain, ['--version'], { netns: opts.netns });
    const backend: IptablesBackend | undefined = /nf_tables/.test(v.stdout)
      ? 'nft'
      : /legacy/.test(v.stdout) || v.status === 0
        ? 'legacy'
        : undefined;
    const restore = findExecutable(`${prefix}-restore`);
    const save = findExecutable(`${prefix}-save`);
    if (backend && restore && save && !candidates[backend])
      candidates[backend] = { backend, family, iptables: plain, restore, save, version: v.stdout.trim() };
  }
  const available = (Object.keys(candidates) as IptablesBackend[]).join(', ') || 'none';
  if (!candidates.nft && !candidates.legacy) {
    throw new CaptureError(
      'E_IPTABLES_MISSING',
      `${prefix}, ${prefix}-restore and ${prefix}-save are not installed; transparent capture needs them (Debian/Ubuntu: apt-get install iptables)`,
    );
  }
  let chosen: IptablesTools | undefined;
  const wanted = opts.backend ?? 'auto';
  if (wanted !== 'auto') {
    chosen = candidates[wanted];
    if (!chosen) {
      throw new CaptureError(
        'E_IPTABLES_BACKEND',
        `the ${wanted === 'nft' ? 'nf_tables' : 'legacy'} iptables backend was asked for but its programs (${TOOL_NAMES[wanted][family].join(', ')}) are not installed (available: ${available}); install the iptables package that provides it, or use --iptables-backend ${wanted === 'nft' ? 'legacy' : 'nft'}`,
      );
    }
  } else if (candidates.nft && candidates.legacy) {
    // Rules already in one backend mean the pod's other tooling uses it: mixing the two splits the ruleset.
    const legacyRules = await countRules(candidates.legacy, run, opts.netns);
    const nftRules = await countRules(candidates.nft, run, opts.netns);
    chosen = legacyRules > 0 && nftRules === 0 ? candidates.legacy : await defaultBackend(plain, candidates, run, opts.netns);
  } else {
    chosen = candidates.nft ?? candidates.legacy;
  }
  if (!chosen) throw new CaptureError('E_IPTABLES_BACKEND', `no usable iptables backend (available: ${available})`);
  if (chosen.version === '') chosen.version = (await run(chosen.iptables, ['--version'], { netns: opts.netns })).stdout.trim();
  return chosen;
}

async function defaultBackend(
  plain: string | undefined,
  c: Partial<Record<IptablesBackend, IptablesTools>>,
  run: CommandRunner,
  netns?: string,
): Promise<IptablesTools | undefined> {
  if (plain) {
    const v = await run(plain, ['--version'], { netns });
    if (/legacy/.test(v.stdout)) return c.legacy;
  }
  return c.nft ?? c.legacy;
}

async function countRules(tools: IptablesTools, run: CommandRunner, netns?: string): Promise<number> {
  const r = await run(tools.save, [], { netns });
  if (r.status !== 0) return 0;
  return r.stdout.split('\n').filter((l) => l.startsWith('-A ')).length;
}

/** `iptables-save` of the namespace, as text. */
export async function iptablesSave(tools: IptablesTools, opts: IptablesOptions = {}): Promise<string> {
  const r = await (opts.run ?? runCommand)(tools.save, [], { netns: opts.netns });
  if (r.status !== 0) throw new CaptureError('E_IPTABLES_STATE', `${tools.save} failed (exit ${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** What one family's apply did, as recorded for cleanup. */
interface AppliedFamily {
  family: 4 | 6;
  backend: IptablesBackend;
  rules: IptablesRule[];
  /** Tables that did not exist before (nf_tables can delete them again on cleanup). */
  tablesCreated: string[];
}

interface CaptureState {
  kind: 'meshgate-capture';
  version: 1;
  appliedAt: string;
  families: AppliedFamily[];
}

export interface ApplyResult {
  backend: IptablesBackend;
  version: string;
  /** The iptables-restore input applied, per family. */
  restore: { family: 4 | 6; lines: string[] }[];
  stateFile: string;
}

export interface ApplyOptions extends IptablesOptions {
  /** When capture rules are already present: remove them first instead of failing (Istio's --reconcile). */
  reconcile?: boolean;
}

/** Installs the capture rules in the namespace. Fails with E_IPTABLES_STATE when ISTIO_* chains already exist, unless reconcile is set. */
export async function applyCapture(config: Partial<CaptureConfig>, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const run = opts.run ?? runCommand;
  const ruleSet = buildCaptureRules(config);
  const families = familiesOf(ruleSet);
  const stateFile = stateFilePath(opts);
  const applied: AppliedFamily[] = [];
  const restore: ApplyResult['restore'] = [];
  // Leftovers from an earlier run would double every rule: refuse, or take them out first (reconcile).
  const leftovers: string[] = [];
  for (const { family } of families) {
    const tools = await detectIptables(family, opts);
    const saved = parseIptablesSave(await iptablesSave(tools, opts));
    for (const [table, t] of saved)
      for (const c of t.chains.keys())
        if (CAPTURE_CHAINS.includes(c)) leftovers.push(`${family === 4 ? 'iptables' : 'ip6tables'} ${table}/${c}`);
  }
  if (leftovers.length > 0) {
    if (!opts.reconcile) {
      throw new CaptureError(
        'E_IPTABLES_STATE',
        `capture rules are already present (${leftovers.join(', ')}); remove them with \`meshgate capture --cleanup\` or apply with --reconcile`,
      );
    }
    await cleanupCapture({ ...opts, config });
  }
  let first: IptablesTools | undefined;
  for (const { family, rules } of families) {
    const tools = await detectIptables(family, opts);
    first ??= tools;
    const before = parseIptablesSave(await iptablesSave(tools, opts));
    const lines = restoreLines(rules);
    const r = await run(tools.restore, ['--noflush', '-w'], { netns: opts.netns, input: lines.join('\n') + '\n' });
    const entry: AppliedFamily = {
      family,
      backend: tools.backend,
      rules,
      tablesCreated: [...new Set(rules.map((x) => x.table))].filter((t) => !before.has(t)),
    };
    if (r.status !== 0) {
      // iptables-restore commits table by table: take back whatever did get in before reporting.
      applied.push(entry);
      // Best effort: the apply error below is the one to report; a cleanup failure here would hide it.
      await removeFamilies(applied, opts).catch(() => undefined);
      const at = /line:?\s*(\d+)/.exec(r.stderr);
      const failedLine = at ? lines[Number(at[1]) - 1] : undefined;
      throw new CaptureError(
        'E_IPTABLES_APPLY',
        `${tools.restore} (${tools.version}) failed: ${r.stderr.trim()}${failedLine ? `\n  at: ${failedLine}` : ''}`,
      );
    }
    applied.push(entry);
    restore.push({ family, lines });
  }
  const state: CaptureState = { kind: 'meshgate-capture', version: 1, appliedAt: new Date().toISOString(), families: applied };
  mkdirSync(path.dirname(stateFile), { recursive: true, mode: 0o755 });
  writeFileSync(stateFile, JSON.stringify(state, null, 2) + '\n', { mode: 0o644 });
  return { backend: first!.backend, version: first!.version, restore, stateFile };
}

export interface CleanupOptions extends IptablesOptions {
  /** The settings capture was applied with; used only when no state file records them. */
  config?: Partial<CaptureConfig>;
}

export interface CleanupResult {
  /** Commands run (`-t nat -D OUTPUT -j ISTIO_OUTPUT`, `-t nat -X ISTIO_OUTPUT`, `nft delete table ip raw`). */
  removed: string[];
  /** Where the rule set came from: the state file written by apply, or the settings given. */
  source: 'state' | 'config';
}

/** Removes exactly the rules and chains capture added; a no-op when there are none. */
export async function cleanupCapture(opts: CleanupOptions = {}): Promise<CleanupResult> {
  const stateFile = stateFilePath(opts);
  const state = readState(stateFile);
  let families: AppliedFamily[];
  let source: CleanupResult['source'];
  if (state) {
    families = state.families;
    source = 'state';
  } else {
    const ruleSet = buildCaptureRules(opts.config ?? {});
    families = [];
    for (const f of familiesOf(ruleSet)) {
      const tools = await detectIptables(f.family, opts);
      families.push({ family: f.family, backend: tools.backend, rules: f.rules, tablesCreated: [] });
    }
    source = 'config';
  }
  const removed = await removeFamilies(families, opts);
  rmSync(stateFile, { force: true });
  return { removed, source };
}

async function removeFamilies(families: AppliedFamily[], opts: IptablesOptions): Promise<string[]> {
  const run = opts.run ?? runCommand;
  const removed: string[] = [];
  for (const f of families) {
    const tools = await detectIptables(f.family, { ...opts, backend: f.backend });
    // 1. The jumps from built-in chains, newest first; -C makes it exact and idempotent.
    for (const rule of [...f.rules].reverse()) {
      if (!isBuiltinChain(rule.chain)) continue;
      for (let i = 0; i < 8; i++) {
        const check = await run(tools.iptables, ['-w', '-t', rule.table, '-C', rule.chain, ...rule.params], { netns: opts.netns });
        if (check.status !== 0) break;
        const del = await run(tools.iptables, ['-w', '-t', rule.table, '-D', rule.chain, ...rule.params], { netns: opts.netns });
        if (del.status !== 0)
          throw new CaptureError(
            'E_IPTABLES_CLEANUP',
            `cannot delete "-t ${rule.table} -A ${rule.chain} ${rule.params.join(' ')}": ${del.stderr.trim()}`,
          );
        removed.push(`-t ${rule.table} -D ${rule.chain} ${rule.params.join(' ')}`);
      }
    }
    // 2. Our chains: flush them all, then delete them all (they jump to each other).
    const now = parseIptablesSave(await iptablesSave(tools, opts));
    const lines: string[] = [];
    for (const [table, chains] of chainsByTable(f.rules)) {
      const present = chains.filter((c) => now.get(table)?.chains.has(c));
      if (present.length === 0) continue;
      lines.push(`*${table}`, ...present.map((c) => `-F ${c}`), ...present.map((c) => `-X ${c}`), 'COMMIT');
      removed.push(...present.map((c) => `-t ${table} -X ${c}`));
    }
    if (lines.length > 0) {
      const r = await run(tools.restore, ['--noflush', '-w'], { netns: opts.netns, input: lines.join('\n') + '\n' });
      if (r.status !== 0) {
        const refs = [...now.values()]
          .flatMap((t) => t.rules)
          .filter(
            (l) =>
              CAPTURE_CHAINS.some((c) => l.endsWith(`-j ${c}`)) &&
              !f.rules.some((x) => isBuiltinChain(x.chain) && l.startsWith(`-A ${x.chain} `)),
          );
        throw new CaptureError(
          'E_IPTABLES_CLEANUP',
          `${tools.restore} could not remove the capture chains: ${r.stderr.trim()}${refs.length ? `\n  still referenced by: ${refs.join('; ')}` : ''}`,
        );
      }
    }
    // 3. nf_tables tables that capture created and that are empty again go too, so the ruleset is as before.
    if (f.backend === 'nft' && f.tablesCreated.length > 0) {
      const nft = findExecutable('nft');
      const after = parseIptablesSave(await iptablesSave(tools, opts));
      for (const table of f.tablesCreated) {
        const t = after.get(table);
        if (!nft || !t || !isEmptyTable(t)) continue;
        const family = f.family === 4 ? 'ip' : 'ip6';
        const r = await run(nft, ['delete', 'table', family, table], { netns: opts.netns });
        if (r.status === 0) removed.push(`nft delete table ${family} ${table}`);
      }
    }
  }
  return removed;
}

function familiesOf(ruleSet: CaptureRuleSet): { family: 4 | 6; rules: IptablesRule[] }[] {
  const out: { family: 4 | 6; rules: IptablesRule[] }[] = [{ family: 4, rules: ruleSet.v4 }];
  if (ruleSet.v6.length > 0) out.push({ family: 6, rules: ruleSet.v6 });
  return out;
}

/** The state file for the target namespace: named by the namespace's inode, which both `ip netns exec` and --netns see. */
export function stateFilePath(opts: IptablesOptions = {}): string {
  const nsFile = opts.netns !== undefined ? path.join('/run/netns', opts.netns) : '/proc/self/ns/net';
  let id: string;
  try {
    id = `netns-${statSync(nsFile).ino}`;
  } catch (err) {
    throw new CaptureError('E_IPTABLES_STATE', `cannot identify the network namespace (${nsFile}): ${(err as Error).message}`, {
      cause: err,
    });
  }
  return path.join(opts.stateDir ?? DEFAULT_STATE_DIR, `${id}.json`);
}

function readState(file: string): CaptureState | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CaptureError('E_IPTABLES_STATE', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = JSON.parse(text) as Partial<CaptureState>;
  if (parsed.kind !== 'meshgate-capture' || parsed.version !== 1 || !Array.isArray(parsed.families)) {
    throw new CaptureError('E_IPTABLES_STATE', `${file} is not a meshgate capture state file (remove it if capture is not applied)`);
  }
  return parsed as CaptureState;
}
