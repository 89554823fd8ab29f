// Diagnostics: what the loader, the snapshot builder, the store and the analyzers report. The shape
// follows `istioctl analyze` (level, IST code, object, message) plus the file position and JSON path
// of the offending field, so that a user can jump straight to it.

export type DiagnosticLevel = 'Error' | 'Warning' | 'Info';

export interface Diagnostic {
  level: DiagnosticLevel;
  /** Istio's IST code where Istio has the check (`IST0101`), meshgate's `MG` codes otherwise. */
  code: string;
  message: string;
  file?: string;
  line?: number;
  column?: number;
  /** `Kind/namespace/name`. */
  object?: string;
  /** JSON path of the field, like `spec.ports[0].number`. */
  field?: string;
}

/**
 * Codes for the checks meshgate's config layer makes. Where Istio has the same check we use Istio's
 * code (IST0106 SchemaValidationError, IST0133 SchemaWarning); the rest are meshgate's own.
 */
export const DiagnosticCodes = {
  SchemaValidationError: 'IST0106',
  SchemaWarning: 'IST0133',
  YamlSyntax: 'MG0001',
  UnreadableFile: 'MG0002',
  DuplicateObject: 'MG0003',
  UnknownKind: 'MG0004',
  PatchFailed: 'MG0005',
  PatchWithoutTarget: 'MG0006',
  PatchTargetNotFound: 'MG0007',
  EmptyFile: 'MG0008',
  LastGoodRetained: 'MG0009',
  Kustomization: 'MG0010',
  NestingTooDeep: 'MG0011',
  /** Valid Istio config that meshgate's L4 data plane does not serve (HTTP routes, HTTP-only policy). */
  NotServed: 'MG0012',
} as const;

/** JSON path segments (`['spec', 'ports', 0, 'number']`) to `spec.ports[0].number`. */
export function formatFieldPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** `file:line:col: Error [IST0101] (VirtualService default/x) spec.gateways[0]: message`. */
export function formatDiagnostic(d: Diagnostic): string {
  let where = '';
  if (d.file !== undefined) {
    where = d.file;
    if (d.line !== undefined) where += `:${d.line}`;
    if (d.line !== undefined && d.column !== undefined) where += `:${d.column}`;
    where += ': ';
  }
  let obj = '';
  if (d.object !== undefined) {
    const slash = d.object.indexOf('/');
    const rest = slash > 0 ? d.object.slice(slash + 1) : '';
    // `Namespace//app` is cluster-scoped: print `(Namespace app)`.
    obj = slash > 0 ? ` (${d.object.slice(0, slash)} ${rest.startsWith('/') ? rest.slice(1) : rest})` : ` (${d.object})`;
  }
  const field = d.field ? ` ${d.field}:` : '';
  return `${where}${d.level} [${d.code}]${obj}${field} ${d.message}`;
}

export function hasErrors(diags: readonly Diagnostic[]): boolean {
  return diags.some((d) => d.level === 'Error');
}

/** Sorted by file, line, column, then code, so that output is stable. */
export function sortDiagnostics(diags: readonly Diagnostic[]): Diagnostic[] {
  return [...diags].sort(
    (a, b) =>
      (a.file ?? '').localeCompare(b.file ?? '') ||
      (a.line ?? 0) - (b.line ?? 0) ||
      (a.column ?? 0) - (b.column ?? 0) ||
      a.code.localeCompare(b.code) ||
      a.message.localeCompare(b.message),
  );
}

/** Thrown by callers that need valid configuration and got errors instead. */
export class ConfigError extends Error {
  readonly code = 'E_CONFIG_INVALID';
  readonly diagnostics: readonly Diagnostic[];
  constructor(diagnostics: readonly Diagnostic[], message?: string) {
    const errors = diagnostics.filter((d) => d.level === 'Error');
    super(
      message ??
        `configuration is invalid (${errors.length} error${errors.length === 1 ? '' : 's'}):\n${errors.map(formatDiagnostic).join('\n')}`,
    );
    this.name = 'ConfigError';
    this.diagnostics = diagnostics;
  }
}
