// One family of hostile input as the issue-14 attacks run it: a control first (the legitimate case must
// succeed, or a refusal proves nothing and the whole family counts as not handled), then each variant
// `rounds` times. Reported as one `bad_inputs` entry; what was not handled goes to the log, by variant.
import type { SoakReport } from '../results.js';

export interface Verdict {
  ok: boolean;
  why?: string;
}

export interface Variant {
  what: string;
  run: () => Promise<Verdict>;
}

export interface FamilyResult {
  tried: number;
  handled: number;
  failures: string[];
}

const errorVerdict = (err: unknown): Verdict => {
  const e = err as { code?: string; message?: string };
  return { ok: false, why: `threw ${e.code ? `[${e.code}] ` : ''}${e.message ?? String(err)}` };
};

export async function runFamily(
  report: SoakReport,
  log: (line: string) => void,
  family: string,
  o: { control?: Variant; variants: Variant[]; rounds?: number },
): Promise<FamilyResult> {
  const out: FamilyResult = { tried: 0, handled: 0, failures: [] };
  let controlFailed: string | undefined;
  if (o.control) {
    const c = await o.control.run().catch(errorVerdict);
    if (!c.ok) controlFailed = `control "${o.control.what}" failed, so the refusals prove nothing: ${c.why ?? ''}`;
  }
  for (let r = 0; r < (o.rounds ?? 1); r++) {
    for (const v of o.variants) {
      out.tried++;
      const res = await v.run().catch(errorVerdict);
      if (res.ok) out.handled++;
      else if (out.failures.length < 8) out.failures.push(`${v.what}: ${res.why ?? 'not handled'}`);
    }
  }
  if (controlFailed) {
    out.handled = 0;
    out.failures.unshift(controlFailed);
  }
  if (out.failures.length > 0) log(`${family}: NOT HANDLED: ${out.failures.join('; ')}`);
  report.badInput({ family, tried: out.tried, handled: out.handled });
  return out;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
