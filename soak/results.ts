// What a soak run produces: each fault or check with the expectation it was held to, each family of
// hostile input with how many were tried and how many were handled, the load figures; the table a
// person reads and `soak/results/latest.json`, whose shape is fixed by issue 10. A check that could not
// run is `skipped` with the reason, never `passed` (issue 14): it does not fail the run, and the summary
// counts it apart.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

export type CheckStatus = 'passed' | 'failed' | 'skipped';

export interface FaultResult {
  name: string;
  expectation: string;
  status: CheckStatus;
  /** Kept for readers of the issue-10 shape: true only when `status` is `passed` (a skipped check is false). */
  passed: boolean;
  detail: string;
}

/** What a phase reports: a verdict, or `skipped: true` when the check could not run (the detail says why). */
export type FaultInput = { name: string; expectation: string; detail: string } & ({ passed: boolean } | { skipped: true });

export interface BadInputResult {
  family: string;
  tried: number;
  handled: number;
}

/** A check throws this when it cannot run here (no registry, no tool): recorded as skipped with the message. */
export class CheckSkipped extends Error {
  readonly code = 'E_SOAK_SKIPPED';
}

/** `soak/results/latest.json`: the fields issue 10 names, each fault with its status (issue 14). */
export interface SoakResults {
  date: string;
  quick: boolean;
  connections_held: number;
  bytes_sent: number;
  bytes_lost: number;
  faults: FaultResult[];
  bad_inputs: BadInputResult[];
}

/** Collects results as the phases run; the figures of the load phase are added to, not replaced. */
export class SoakReport {
  readonly faults: FaultResult[] = [];
  readonly badInputs: BadInputResult[] = [];
  connectionsHeld = 0;
  bytesSent = 0;
  bytesLost = 0;

  constructor(
    readonly quick: boolean,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  fault(r: FaultInput): void {
    const status: CheckStatus = 'skipped' in r ? 'skipped' : r.passed ? 'passed' : 'failed';
    this.faults.push({ name: r.name, expectation: r.expectation, status, passed: status === 'passed', detail: r.detail });
    this.log(`${status === 'passed' ? 'PASS' : status === 'failed' ? 'FAIL' : 'SKIP'} ${r.name}: ${r.detail}`);
  }

  /** A check that could not run, with the reason: never counted as passed, never a failure of the run. */
  skip(name: string, expectation: string, reason: string): void {
    this.fault({ name, expectation, skipped: true, detail: reason });
  }

  skipped(): FaultResult[] {
    return this.faults.filter((f) => f.status === 'skipped');
  }

  badInput(r: BadInputResult): void {
    const prev = this.badInputs.find((b) => b.family === r.family);
    if (prev) {
      prev.tried += r.tried;
      prev.handled += r.handled;
    } else {
      this.badInputs.push({ ...r });
    }
    this.log(`${r.handled === r.tried ? 'PASS' : 'FAIL'} hostile ${r.family}: ${r.handled}/${r.tried} handled`);
  }

  /**
   * Runs one check; an exception is a failed expectation with the error as its detail, never a crash of
   * the run, except CheckSkipped, which records the check as skipped. Resolves true only when it passed.
   */
  async check(name: string, expectation: string, fn: () => Promise<string>): Promise<boolean> {
    try {
      const detail = await fn();
      this.fault({ name, expectation, passed: true, detail });
      return true;
    } catch (err) {
      if (err instanceof CheckSkipped) {
        this.skip(name, expectation, err.message);
        return false;
      }
      const e = err as { code?: string; message?: string };
      this.fault({ name, expectation, passed: false, detail: `${e.code ? `[${e.code}] ` : ''}${e.message ?? String(err)}` });
      return false;
    }
  }

  /** No check failed, every bad input was handled, no byte lost; skipped checks do not fail the run. */
  passed(): boolean {
    return this.faults.every((f) => f.status !== 'failed') && this.badInputs.every((b) => b.handled === b.tried) && this.bytesLost === 0;
  }

  toJson(now = new Date()): SoakResults {
    return {
      date: now.toISOString(),
      quick: this.quick,
      connections_held: this.connectionsHeld,
      bytes_sent: this.bytesSent,
      bytes_lost: this.bytesLost,
      faults: this.faults.map(({ name, expectation, status, passed, detail }) => ({ name, expectation, status, passed, detail })),
      bad_inputs: this.badInputs.map(({ family, tried, handled }) => ({ family, tried, handled })),
    };
  }
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function clip(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

const RESULT: Record<CheckStatus, string> = { passed: 'pass  ', failed: 'FAIL  ', skipped: 'skip  ' };

/** The table printed at the end of a run. */
export function renderTable(r: SoakResults): string {
  const lines: string[] = [];
  const faultsPassed = r.faults.filter((f) => f.status === 'passed').length;
  const faultsSkipped = r.faults.filter((f) => f.status === 'skipped').length;
  const tried = r.bad_inputs.reduce((s, b) => s + b.tried, 0);
  const handled = r.bad_inputs.reduce((s, b) => s + b.handled, 0);
  lines.push(`meshgate soak (${r.quick ? 'quick' : 'full'}) ${r.date}`);
  lines.push('');
  lines.push(`  load held        ${r.connections_held} connections`);
  lines.push(`  bytes sent       ${r.bytes_sent}`);
  lines.push(`  bytes lost       ${r.bytes_lost}`);
  lines.push(`  faults survived  ${faultsPassed}/${r.faults.length}${faultsSkipped > 0 ? `, ${faultsSkipped} skipped` : ''}`);
  lines.push(`  bad inputs       ${handled}/${tried} handled`);
  lines.push('');
  const w = Math.min(56, Math.max(...r.faults.map((f) => f.name.length), 10));
  lines.push(`  ${pad('check', w)}  result  detail`);
  for (const f of r.faults) lines.push(`  ${pad(f.name, w)}  ${RESULT[f.status]}  ${clip(f.detail.replace(/\s+/g, ' '), 110)}`);
  lines.push('');
  const fw = Math.max(...r.bad_inputs.map((b) => b.family.length), 6);
  lines.push(`  ${pad('hostile input', fw)}  tried  handled`);
  for (const b of r.bad_inputs)
    lines.push(`  ${pad(b.family, fw)}  ${pad(String(b.tried), 5)}  ${b.handled}${b.handled === b.tried ? '' : '  FAIL'}`);
  return lines.join('\n');
}

/** Writes the JSON next to a temp file and renames it, so a reader never sees half a file. */
export async function writeResults(file: string, r: SoakResults): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(r, null, 2)}\n`);
  await rename(tmp, file);
}
