// Reading configuration text: multi-document YAML, JSON (one object, a `List`, or an RFC 6902 op
// array). Nothing here throws on bad input: every problem becomes a Diagnostic with file:line:column,
// and every good object in the same text still loads. Files and folders are load.ts.
import { LineCounter, isScalar, parseAllDocuments, type Document } from 'yaml';
import { DiagnosticCodes, formatFieldPath, type Diagnostic } from './diagnostics.js';
import { PATCH_OPS } from './json-patch.js';
import { findExcessiveNesting, findExcessiveValueNesting, MAX_CONFIG_NESTING_DEPTH } from './nesting-depth.js';
import { FieldLocator, type Position } from './positions.js';
import { objectKey, type ConfigObject, type JsonPatchOp, type SourceRef } from './types.js';
import { describeValue, validateObject } from './validate-object.js';

export interface PatchTarget {
  kind: string;
  namespace: string;
  name: string;
}

export interface LoadedObject {
  object: ConfigObject;
  source: SourceRef;
}

export interface LoadedPatch {
  ops: JsonPatchOp[];
  target?: PatchTarget;
  source: SourceRef;
}

export interface LoadResult {
  objects: LoadedObject[];
  patches: LoadedPatch[];
  diagnostics: Diagnostic[];
}

/** Files larger than this are refused (a config file this big is a mistake, not configuration). */
export const MAX_CONFIG_FILE_BYTES = 8 * 1024 * 1024;

function positionOf(text: string, offset: number): Position {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return { line, column: offset - last };
}

export function fileDiag(level: Diagnostic['level'], code: string, file: string, pos: Position, message: string): Diagnostic {
  return { level, code, message, file, line: pos.line, column: pos.column };
}

/** Parses one file's text. `file` is used in diagnostics and decides JSON vs YAML by extension. */
export function loadConfigText(text: string, file: string): LoadResult {
  const out: LoadResult = { objects: [], patches: [], diagnostics: [] };
  if (text.length > MAX_CONFIG_FILE_BYTES) {
    out.diagnostics.push(
      fileDiag(
        'Error',
        DiagnosticCodes.UnreadableFile,
        file,
        { line: 1, column: 1 },
        `file is ${text.length} characters long; the limit for a config file is ${MAX_CONFIG_FILE_BYTES} bytes`,
      ),
    );
    return out;
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a UTF-8 byte-order mark is not content
  // eslint-disable-next-line no-control-regex -- finding control characters is the point: they mark binary data
  const bad = text.search(/[\u0000\uFFFD]|[\u0001-\u0008\u000E-\u001F]/);
  if (bad >= 0) {
    const code = text.charCodeAt(bad);
    const what =
      code === 0xfffd ? 'bytes that are not valid UTF-8' : `the control character U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
    out.diagnostics.push(
      fileDiag(
        'Error',
        DiagnosticCodes.UnreadableFile,
        file,
        positionOf(text, bad),
        `file contains ${what}; it is binary data, not YAML or JSON`,
      ),
    );
    return out;
  }
  if (text.trim() === '') {
    out.diagnostics.push(
      fileDiag('Warning', DiagnosticCodes.EmptyFile, file, { line: 1, column: 1 }, 'file is empty; it holds no objects'),
    );
    return out;
  }
  const deep = nestingDiagnostic(text, file);
  if (deep) {
    out.diagnostics.push(deep);
    return out;
  }
  if (file.toLowerCase().endsWith('.json')) {
    try {
      JSON.parse(text);
    } catch (err) {
      const msg = (err as Error).message;
      const m = /at position (\d+)/.exec(msg);
      const lc = /\(line (\d+) column (\d+)\)/.exec(msg);
      const pos = lc ? { line: Number(lc[1]), column: Number(lc[2]) } : m ? positionOf(text, Number(m[1])) : { line: 1, column: 1 };
      const short = msg
        .replace(/^JSON\.parse: /, '')
        .replace(/ in JSON at position \d+.*$/s, '')
        .replace(/ \(line \d+ column \d+\)$/, '');
      out.diagnostics.push(fileDiag('Error', DiagnosticCodes.YamlSyntax, file, pos, `invalid JSON: ${short}`));
      return out;
    }
  }
  const lc = new LineCounter();
  let docs: Document.Parsed[];
  try {
    docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, strict: true }) as Document.Parsed[];
  } catch (err) {
    // parseAllDocuments reports syntax problems on the documents; a throw here is a parser bug we report, not hide.
    out.diagnostics.push(
      fileDiag('Error', DiagnosticCodes.YamlSyntax, file, { line: 1, column: 1 }, `YAML could not be parsed: ${(err as Error).message}`),
    );
    return out;
  }
  if (!Array.isArray(docs)) docs = [docs];
  let found = false;
  docs.forEach((doc, docIndex) => {
    const docLabel = docs.length > 1 ? ` (document ${docIndex + 1})` : '';
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const p = lc.linePos(e.pos[0]);
        out.diagnostics.push(
          fileDiag(
            'Error',
            DiagnosticCodes.YamlSyntax,
            file,
            { line: p.line, column: p.col },
            `YAML syntax error${docLabel}: ${e.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '')}`,
          ),
        );
      }
      found = true; // the document holds something, just not something valid
      return;
    }
    for (const w of doc.warnings) {
      const p = lc.linePos(w.pos[0]);
      out.diagnostics.push(
        fileDiag(
          'Warning',
          DiagnosticCodes.YamlSyntax,
          file,
          { line: p.line, column: p.col },
          `YAML warning${docLabel}: ${w.message.split('\n')[0]}`,
        ),
      );
    }
    // A document with only comments (or a bare `---`) holds nothing.
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null && doc.contents.source === '')) return;
    found = true;
    const docStart = (() => {
      const p = lc.linePos(doc.contents?.range?.[0] ?? 0);
      return { line: p.line, column: p.col };
    })();
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      // toJS throws on alias bombs ("Excessive alias count"); that is the user's input, so it is a diagnostic.
      out.diagnostics.push(
        fileDiag('Error', DiagnosticCodes.YamlSyntax, file, docStart, `YAML could not be read${docLabel}: ${(err as Error).message}`),
      );
      return;
    }
    const deepPath = findExcessiveValueNesting(value);
    if (deepPath) {
      out.diagnostics.push(valueNestingDiagnostic(deepPath, file, docStart, docLabel));
      return;
    }
    if (Array.isArray(value)) {
      readPatch(value, new FieldLocator(doc, lc, [], docStart), file, docStart, out);
      return;
    }
    const isList =
      value !== null &&
      typeof value === 'object' &&
      (value as { kind?: unknown }).kind === 'List' &&
      Array.isArray((value as { items?: unknown }).items);
    const items: { raw: unknown; base: (string | number)[] }[] = isList
      ? (value as { items: unknown[] }).items.map((raw, i) => ({ raw, base: ['items', i] }))
      : [{ raw: value, base: [] }];
    for (const { raw, base } of items) {
      const itemStart = base.length ? new FieldLocator(doc, lc, [], docStart).locate(base) : docStart;
      const locator = new FieldLocator(doc, lc, base, itemStart);
      const r = validateObject(raw, { file, locator });
      out.diagnostics.push(...r.diagnostics);
      if (r.object)
        out.objects.push({
          object: r.object,
          source: { file, line: itemStart.line, column: itemStart.column, positions: locator.allPositions() },
        });
    }
  });
  if (!found)
    out.diagnostics.push(
      fileDiag(
        'Warning',
        DiagnosticCodes.EmptyFile,
        file,
        { line: 1, column: 1 },
        'file holds no objects (only comments or empty documents)',
      ),
    );
  dropDuplicates(out);
  return out;
}

/** MG0011 when `text` nests deeper than MAX_CONFIG_NESTING_DEPTH, found by a scan before any parser runs. */
export function nestingDiagnostic(text: string, file: string): Diagnostic | undefined {
  const at = findExcessiveNesting(text);
  if (at === undefined) return undefined;
  return fileDiag(
    'Error',
    DiagnosticCodes.NestingTooDeep,
    file,
    positionOf(text, at),
    `nesting deeper than ${MAX_CONFIG_NESTING_DEPTH} levels here; configuration objects need about 10, so the file is refused unread`,
  );
}

/** MG0011 for a parsed value deeper than the limit (YAML aliases can nest far deeper than the text). */
export function valueNestingDiagnostic(deepPath: readonly (string | number)[], file: string, at: Position, docLabel = ''): Diagnostic {
  const field = formatFieldPath(deepPath.slice(0, 6)) + (deepPath.length > 6 ? `... (${deepPath.length} levels)` : '');
  return {
    ...fileDiag(
      'Error',
      DiagnosticCodes.NestingTooDeep,
      file,
      at,
      `document${docLabel} nests deeper than ${MAX_CONFIG_NESTING_DEPTH} levels once parsed (YAML aliases can nest deeper than the text); refused`,
    ),
    ...(field ? { field } : {}),
  };
}

function readPatch(value: unknown[], locator: FieldLocator, file: string, start: Position, out: LoadResult): void {
  const E = DiagnosticCodes.SchemaValidationError;
  const err = (p: (string | number)[], message: string, key = false): void => {
    const pos = locator.locate(p, { key });
    out.diagnostics.push({
      level: 'Error',
      code: E,
      message,
      file,
      line: pos.line,
      column: pos.column,
      field: formatFieldPath(p) || undefined,
    });
  };
  if (value.length === 0) {
    out.diagnostics.push(fileDiag('Warning', DiagnosticCodes.EmptyFile, file, start, 'the JSON patch holds no operations'));
    return;
  }
  if (!value.some((v) => v !== null && typeof v === 'object' && 'op' in v)) {
    err([], 'a top-level list must be an RFC 6902 JSON patch (a list of {"op", "path", ...}); use kind: List for a list of objects');
    return;
  }
  const before = out.diagnostics.length;
  const ops: JsonPatchOp[] = [];
  value.forEach((v, i) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      err([i], `expected a JSON patch operation (a mapping with "op" and "path"), found ${describeValue(v)}`);
      return;
    }
    const o = v as Record<string, unknown>;
    if (typeof o.op !== 'string' || !(PATCH_OPS as readonly string[]).includes(o.op)) {
      err(
        [i, 'op'],
        o.op === undefined
          ? 'required field "op" is missing (expected one of add, remove, replace, move, copy, test)'
          : `expected one of ${PATCH_OPS.join(', ')}, found ${describeValue(o.op)}`,
      );
      return;
    }
    if (typeof o.path !== 'string') {
      err(
        [i, 'path'],
        o.path === undefined
          ? 'required field "path" is missing (expected a JSON pointer like "/spec/ports/0")'
          : `expected a JSON pointer string, found ${describeValue(o.path)}`,
      );
      return;
    }
    if (o.path !== '' && !o.path.startsWith('/')) {
      err([i, 'path'], `expected a JSON pointer starting with "/", found string ${JSON.stringify(o.path)}`);
      return;
    }
    if ((o.op === 'add' || o.op === 'replace' || o.op === 'test') && !('value' in o)) {
      err([i], `an "${o.op}" operation needs a "value"`.replace('an "replace"', 'a "replace"').replace('an "test"', 'a "test"'));
      return;
    }
    if ((o.op === 'move' || o.op === 'copy') && typeof o.from !== 'string') {
      err([i], `a "${o.op}" operation needs a "from" JSON pointer`);
      return;
    }
    for (const k of Object.keys(o)) {
      if (!['op', 'path', 'value', 'from'].includes(k)) {
        const pos = locator.locate([i, k], { key: true });
        out.diagnostics.push({
          level: 'Warning',
          code: DiagnosticCodes.SchemaWarning,
          message: `unknown field "${k}" in a JSON patch operation; it is ignored`,
          file,
          line: pos.line,
          column: pos.column,
          field: formatFieldPath([i, k]),
        });
      }
    }
    const op: JsonPatchOp = { op: o.op as JsonPatchOp['op'], path: o.path };
    if ('value' in o) op.value = o.value;
    if (typeof o.from === 'string') op.from = o.from;
    ops.push(op);
  });
  if (out.diagnostics.slice(before).some((d) => d.level === 'Error')) return;
  out.patches.push({ ops, source: { file, line: start.line, column: start.column, positions: locator.allPositions() } });
}

/** Same Kind/namespace/name twice: the first one stays, each later one is an Error. */
export function dropDuplicates(out: LoadResult, seen = new Map<string, SourceRef>()): void {
  out.objects = out.objects.filter((o) => {
    const key = objectKey(o.object);
    const first = seen.get(key);
    if (first) {
      out.diagnostics.push({
        level: 'Error',
        code: DiagnosticCodes.DuplicateObject,
        message: `duplicate object: ${key} is already defined at ${first.file}:${first.line}:${first.column}; this one is ignored`,
        file: o.source.file,
        line: o.source.line,
        column: o.source.column,
        object: key,
      });
      return false;
    }
    seen.set(key, o.source);
    return true;
  });
}
