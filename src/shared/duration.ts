// One duration parser for every layer, with the three grammars meshgate reads:
// - `proto3`: google.protobuf.Duration in canonical JSON, as xDS carries it: seconds with up to nine
//   fractional digits and an `s` (`10s`, `1.500s`, `-2s`), at most 315,576,000,000 s (the proto's range).
// - `istio`: what Istio's YAML accepts for a Duration field: the proto3 form, or Go-style units
//   (`500ms`, `1h`, `1m30s`, `1.5s`), or a bare `0`. Istio's validation refuses negative durations.
// - `flag`: command-line values as istioctl takes them (`87600h`, `90m`, `1h30m`), plus days (`30d`)
//   and bare seconds (`3600`).
// Values are exact (nanoseconds as a bigint) so the proto3 round trip never loses a digit.

export type DurationGrammar = 'proto3' | 'istio' | 'flag';

export class DurationError extends Error {
  readonly code = 'E_DURATION';
  constructor(
    message: string,
    /** What was wrong: not of the grammar, negative where that is refused, or beyond proto3's range. */
    readonly reason: 'syntax' | 'negative' | 'range',
  ) {
    super(message);
  }
}

const NS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
  d: 86_400_000_000_000n,
};
const PROTO3_MAX_SECONDS = 315_576_000_000n;

interface GrammarRule {
  /** One `<number><unit>` part per match, from a given position (sticky). */
  part: RegExp;
  maxParts: number;
  negative: boolean;
  /** What a number with no unit means: nothing, only `0`, or seconds. */
  bare: 'none' | 'zero' | 'seconds';
  example: string;
}

const RULES: Record<DurationGrammar, GrammarRule> = {
  proto3: { part: /(\d+)(?:\.(\d{1,9}))?(s)/y, maxParts: 1, negative: true, bare: 'none', example: '"10s" or "0.250s"' },
  istio: { part: /(\d*)(?:\.(\d*))?(ns|us|µs|ms|s|m|h)/y, maxParts: 16, negative: false, bare: 'zero', example: '"10s", "500ms" or "1h"' },
  flag: {
    part: /(\d*)(?:\.(\d*))?(ns|us|µs|ms|s|m|h|d)/y,
    maxParts: 16,
    negative: false,
    bare: 'seconds',
    example: '"87600h", "30d", "90m" or "3600s"',
  },
};

/** `digits`.`fraction` × `unitNs`, exactly, rounded down to whole nanoseconds. */
function partNs(digits: string, fraction: string, unitNs: bigint): bigint {
  const scale = 10n ** BigInt(fraction.length);
  return ((BigInt(digits || '0') * scale + BigInt(fraction || '0')) * unitNs) / scale;
}

/** Parses `text` in `grammar` to nanoseconds; throws DurationError saying what was expected. */
export function parseDurationNs(text: string, grammar: DurationGrammar): bigint {
  const rule = RULES[grammar];
  const bad = (reason: DurationError['reason'] = 'syntax', why = `expected a value like ${rule.example}`): DurationError =>
    new DurationError(`invalid duration ${JSON.stringify(text)}: ${why}`, reason);
  if (typeof text !== 'string' || text.length === 0 || text.length > 64) throw bad();
  let s = grammar === 'flag' ? text.trim() : text;
  let sign = 1n;
  if (s.startsWith('-')) {
    if (!rule.negative) throw bad('negative', 'a duration must not be negative');
    sign = -1n;
    s = s.slice(1);
  }
  if (/^\d+$/.test(s) && rule.bare !== 'none') {
    if (rule.bare === 'seconds') return BigInt(s) * NS.s!;
    if (/^0+$/.test(s)) return 0n;
  }
  let total = 0n;
  let pos = 0;
  let parts = 0;
  while (pos < s.length || parts === 0) {
    rule.part.lastIndex = pos;
    const m = rule.part.exec(s);
    // A part needs a digit before or after its point (Go: ".5s" and "1.s" are numbers, "." is not).
    if (!m || (m[1] === '' && !m[2]) || ++parts > rule.maxParts) throw bad();
    total += partNs(m[1] ?? '', m[2] ?? '', NS[m[3] as string]!);
    pos = rule.part.lastIndex;
  }
  if (grammar === 'proto3' && total / NS.s! > PROTO3_MAX_SECONDS) throw bad('range', 'out of range');
  return sign * total;
}

/** The same in milliseconds (fractions of a millisecond kept). */
export function parseDurationMs(text: string, grammar: DurationGrammar): number {
  return Number(parseDurationNs(text, grammar)) / 1e6;
}

export function isDuration(text: string, grammar: DurationGrammar): boolean {
  try {
    parseDurationNs(text, grammar);
    return true;
  } catch {
    // parseDurationNs throws only DurationError for a string; false is the answer, not a failure.
    return false;
  }
}

/** proto3 canonical JSON for a duration: whole seconds plain, otherwise 3, 6 or 9 fractional digits. */
export function formatProto3Duration(ns: bigint): string {
  const negative = ns < 0n;
  const abs = negative ? -ns : ns;
  const secs = abs / NS.s!;
  const nanos = abs % NS.s!;
  let frac = '';
  if (nanos !== 0n) {
    frac = String(nanos).padStart(9, '0');
    if (frac.endsWith('000000')) frac = frac.slice(0, 3);
    else if (frac.endsWith('000')) frac = frac.slice(0, 6);
    frac = `.${frac}`;
  }
  return `${negative ? '-' : ''}${secs}${frac}s`;
}

/** Whole milliseconds (any fraction rounded to the nearest nanosecond) as nanoseconds. */
export function msToNs(ms: number): bigint {
  return BigInt(Math.round(ms * 1e6));
}
