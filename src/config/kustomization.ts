// The part of a kustomization.yaml meshgate reads: which JSON patch applies to which object, in
// Kustomize's `patches: [{path, target: {kind, name, namespace}}]` form (also the older
// `patchesJson6902`, and inline `patch:` text). Other Kustomize features are not applied.
import { LineCounter, parseDocument } from 'yaml';
import { DiagnosticCodes, formatFieldPath, type Diagnostic } from './diagnostics.js';
import type { LoadedPatch, PatchTarget } from './load-text.js';
import { FieldLocator, type Position } from './positions.js';
import { loadConfigText, nestingDiagnostic, valueNestingDiagnostic } from './load-text.js';
import { findExcessiveValueNesting } from './nesting-depth.js';

export interface KustomizePatchRef {
  path?: string;
  target?: PatchTarget;
  inline?: LoadedPatch;
  position: Position;
  field: string;
}

export function parseKustomization(text: string, file: string): { patches: KustomizePatchRef[]; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const patches: KustomizePatchRef[] = [];
  const deep = nestingDiagnostic(text, file);
  if (deep) return { patches, diagnostics: [deep] };
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const K = DiagnosticCodes.Kustomization;
  if (doc.errors.length) {
    for (const e of doc.errors) {
      const p = lc.linePos(e.pos[0]);
      diagnostics.push({
        level: 'Error',
        code: DiagnosticCodes.YamlSyntax,
        file,
        line: p.line,
        column: p.col,
        message: `YAML syntax error: ${e.message.split('\n')[0]}`,
      });
    }
    return { patches, diagnostics };
  }
  const locator = new FieldLocator(doc, lc, [], { line: 1, column: 1 });
  let value: Record<string, unknown> | null;
  try {
    value = doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown> | null;
  } catch (err) {
    // toJS throws on alias bombs ("Excessive alias count"): the user's input, so a diagnostic.
    return {
      patches,
      diagnostics: [
        {
          level: 'Error',
          code: DiagnosticCodes.YamlSyntax,
          file,
          line: 1,
          column: 1,
          message: `YAML could not be read: ${(err as Error).message}`,
        },
      ],
    };
  }
  const deepPath = findExcessiveValueNesting(value);
  if (deepPath) return { patches, diagnostics: [valueNestingDiagnostic(deepPath, file, { line: 1, column: 1 })] };
  if (!value || typeof value !== 'object') return { patches, diagnostics };
  const diag = (level: Diagnostic['level'], p: (string | number)[], message: string): void => {
    const pos = locator.locate(p);
    diagnostics.push({ level, code: K, file, line: pos.line, column: pos.column, field: formatFieldPath(p), message });
  };
  for (const listName of ['patches', 'patchesJson6902'] as const) {
    const list = value[listName];
    if (list === undefined) continue;
    if (!Array.isArray(list)) {
      diag('Error', [listName], `expected a list of patches`);
      continue;
    }
    list.forEach((entry: unknown, i) => {
      const p = [listName, i];
      if (!entry || typeof entry !== 'object') {
        diag('Error', p, 'expected a mapping with "path" (or "patch") and "target"');
        return;
      }
      const e = entry as Record<string, unknown>;
      const ref: KustomizePatchRef = { position: locator.locate(p), field: formatFieldPath(p) };
      const t = e.target as Record<string, unknown> | undefined;
      if (t && typeof t === 'object') {
        if (typeof t.kind !== 'string' || typeof t.name !== 'string')
          diag('Error', [...p, 'target'], 'target must name a kind and a name (meshgate applies patches to named objects only)');
        else ref.target = { kind: t.kind, name: t.name, namespace: typeof t.namespace === 'string' ? t.namespace : 'default' };
      } else {
        diag('Warning', p, 'patch has no target; it cannot be applied');
      }
      if (typeof e.path === 'string') ref.path = e.path;
      else if (typeof e.patch === 'string') {
        const r = loadConfigText(e.patch, `${file}#${formatFieldPath([...p, 'patch'])}`);
        diagnostics.push(...r.diagnostics);
        const inline = r.patches[0];
        if (inline) {
          inline.source = { file, line: ref.position.line, column: ref.position.column };
          if (ref.target) inline.target = ref.target;
          ref.inline = inline;
        }
      } else {
        diag('Error', p, 'expected "path" (a JSON patch file beside the kustomization) or "patch" (inline)');
        return;
      }
      patches.push(ref);
    });
  }
  return { patches, diagnostics };
}
