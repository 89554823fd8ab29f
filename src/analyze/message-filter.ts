// Which findings `analyze` reports, as `istioctl analyze` chooses them: `--suppress "CODE=Kind name.ns"`
// (istioctl's syntax, `*` matching any run of characters), `--output-threshold` (the lowest level
// shown) and `-n NAMESPACE` (findings on objects of that namespace, plus those not tied to a namespace).
import type { Diagnostic, DiagnosticLevel } from '../config/diagnostics.js';

export class AnalyzeFlagError extends Error {
  readonly code = 'E_CLI_USAGE';
}

export interface Suppression {
  code: string;
  /** istioctl's resource name: `Kind name.namespace`, or `Kind name` for a cluster-scoped object. */
  resource: string;
  /** The value as given, for messages. */
  text: string;
}

const LEVELS: readonly DiagnosticLevel[] = ['Info', 'Warning', 'Error'];
const CODE = /^(IST|MG)[0-9*]{1,4}$|^\*$/;

/** `Info`, `Warning` or `Error`, in any case (istioctl upper-cases the value before looking it up). */
export function parseLevel(value: string, flag = '--output-threshold'): DiagnosticLevel {
  const level = LEVELS.find((l) => l.toLowerCase() === value.toLowerCase());
  if (!level) throw new AnalyzeFlagError(`${flag} "${value}" is not a level: use one of ${LEVELS.join(', ')}`);
  return level;
}

/**
 * One `--suppress` value. A malformed one is an error (istioctl refuses it too); a code that is not
 * an IST or MG code is returned with `unknownCode` so the caller can warn, as istioctl warns.
 */
export function parseSuppression(value: string): Suppression & { unknownCode: boolean } {
  const eq = value.indexOf('=');
  const code = eq < 0 ? '' : value.slice(0, eq).trim();
  const resource = eq < 0 ? '' : value.slice(eq + 1).trim();
  if (code === '' || !/^\S+ \S+$/.test(resource)) {
    throw new AnalyzeFlagError(
      `--suppress "${value}" is not CODE=Kind name[.namespace] (e.g. --suppress "IST0101=VirtualService web.default", "*" matches anything)`,
    );
  }
  return { code, resource, text: value, unknownCode: !CODE.test(code) };
}

/** istioctl's name for the object a finding is about: `Kind name.namespace` (cluster-scoped: `Kind name`). */
export function resourceName(objectKey: string): string {
  const [kind, ns, ...rest] = objectKey.split('/');
  const name = rest.join('/');
  return ns ? `${kind} ${name}.${ns}` : `${kind} ${name}`;
}

function globMatches(pattern: string, value: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return re.test(value);
}

export function isSuppressed(d: Diagnostic, suppressions: readonly Suppression[]): boolean {
  if (d.object === undefined) return false;
  const name = resourceName(d.object);
  return suppressions.some((s) => globMatches(s.code, d.code) && globMatches(s.resource, name));
}

/** The namespace of the object a finding is about; undefined when it is about none or a cluster-scoped one. */
function namespaceOf(d: Diagnostic): string | undefined {
  return d.object?.split('/')[1] || undefined;
}

export interface MessageSelection {
  suppress?: readonly Suppression[];
  /** Report only findings on objects in this namespace (and those tied to none). */
  namespace?: string;
}

/** The findings analyze reports, before the output threshold (which hides but does not change the exit code). */
export function selectMessages(diags: readonly Diagnostic[], sel: MessageSelection): Diagnostic[] {
  return diags.filter((d) => {
    if (sel.suppress && isSuppressed(d, sel.suppress)) return false;
    const ns = namespaceOf(d);
    return sel.namespace === undefined || ns === undefined || ns === sel.namespace;
  });
}

/** Findings at `threshold` or above. */
export function atOrAbove(diags: readonly Diagnostic[], threshold: DiagnosticLevel): Diagnostic[] {
  const min = LEVELS.indexOf(threshold);
  return diags.filter((d) => LEVELS.indexOf(d.level) >= min);
}
