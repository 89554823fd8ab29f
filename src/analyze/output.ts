// Machine output of diagnostics for `validate` and `analyze` (`-o json|yaml`), in the shape of
// `istioctl analyze -o json` (code, level, message, origin, documentationUrl) plus file/line/column
// and the field path.
import { stringify } from 'yaml';
import type { Diagnostic } from '../config/diagnostics.js';

export type OutputFormat = 'human' | 'json' | 'yaml';

export function diagnosticRecords(diags: readonly Diagnostic[]): Record<string, unknown>[] {
  return diags.map((d) => ({
    code: d.code,
    level: d.level,
    message: d.message,
    ...(d.object !== undefined ? { origin: d.object } : {}),
    ...(d.file !== undefined ? { file: d.file } : {}),
    ...(d.line !== undefined ? { line: d.line } : {}),
    ...(d.column !== undefined ? { column: d.column } : {}),
    ...(d.field !== undefined ? { field: d.field } : {}),
    ...(d.code.startsWith('IST')
      ? { documentationUrl: `https://istio.io/latest/docs/reference/config/analysis/${d.code.toLowerCase()}/` }
      : {}),
  }));
}

export function renderDiagnostics(diags: readonly Diagnostic[], format: Exclude<OutputFormat, 'human'>): string {
  const recs = diagnosticRecords(diags);
  return format === 'json' ? `${JSON.stringify(recs, null, 2)}\n` : stringify(recs);
}
