// Istio's unreachable-rule checks of VirtualService validation (IST0130 VirtualServiceUnreachableRule,
// IST0131 VirtualServiceIneffectiveMatch) for tcp and tls routes: routes are tried in order, so a rule
// after a catch-all (a rule without matches) never runs, and a match equal to an earlier one never
// matches. Rules and matches are numbered from 0 (`#1`), as Istio prints them.
import type { Diagnostic } from '../config/diagnostics.js';
import type { ConfigSnapshot, VirtualService } from '../config/types.js';
import { IST, report, type AnalyzeOptions } from './context.js';

export const name = 'virtualservice.UnreachableRulesAnalyzer';
export const description = 'no tcp/tls rule of a VirtualService comes after a catch-all or repeats an earlier match (IST0130, IST0131)';

/** A match's routing content with empty fields dropped and keys sorted, as Istio compares JSON. */
function canonical(v: unknown): string {
  const strip = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.length === 0 ? undefined : x.map(strip);
    if (x !== null && typeof x === 'object') {
      const entries = Object.keys(x as object)
        .sort()
        .map((k) => [k, strip((x as Record<string, unknown>)[k])] as const)
        .filter(([, val]) => val !== undefined);
      return entries.length === 0 ? undefined : Object.fromEntries(entries);
    }
    return x === '' || x === 0 || x === false ? undefined : x;
  };
  return JSON.stringify(strip(v) ?? {});
}

function analyzeRoutes(snap: ConfigSnapshot, vs: VirtualService, kind: 'tcp' | 'tls', out: Diagnostic[]): void {
  const routes = (vs.spec[kind] ?? []) as { match?: unknown[] }[];
  const seen = new Map<string, number>();
  let catchAll = -1;
  routes.forEach((r, i) => {
    const matches = r.match ?? [];
    if (matches.length === 0) {
      if (catchAll >= 0)
        out.push(
          report(
            snap,
            vs,
            'Warning',
            'IST0130',
            IST.virtualServiceUnreachableRule(`#${i}`, 'only the last rule can have no matches'),
            `spec.${kind}[${i}]`,
          ),
        );
      catchAll = i;
      return;
    }
    let duplicates = 0;
    matches.forEach((m, j) => {
      if (catchAll >= 0) {
        out.push(
          report(
            snap,
            vs,
            'Warning',
            'IST0130',
            IST.virtualServiceUnreachableRule(`#${i}`, 'route without matches defined before'),
            `spec.${kind}[${i}]`,
          ),
        );
        return;
      }
      const key = canonical(m);
      const dup = seen.get(key);
      if (dup !== undefined) {
        out.push(
          report(
            snap,
            vs,
            'Info',
            'IST0131',
            IST.virtualServiceIneffectiveMatch(`#${i}`, `#${j}`, `#${dup}`),
            `spec.${kind}[${i}].match[${j}]`,
          ),
        );
        duplicates++;
      } else seen.set(key, i);
    });
    if (duplicates === matches.length)
      out.push(
        report(
          snap,
          vs,
          'Warning',
          'IST0130',
          IST.virtualServiceUnreachableRule(`#${i}`, 'all matches used by prior rules'),
          `spec.${kind}[${i}]`,
        ),
      );
  });
}

export function analyze(snap: ConfigSnapshot, _opts?: AnalyzeOptions): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const vs of snap.virtualServices) {
    analyzeRoutes(snap, vs, 'tcp', out);
    analyzeRoutes(snap, vs, 'tls', out);
  }
  return out;
}
