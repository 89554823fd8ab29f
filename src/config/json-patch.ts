// RFC 6902 JSON Patch (all six operations) over plain JSON values, applied by fast-json-patch. This file
// adds what meshgate needs around it: RFC 6901 pointer syntax checked first, the RFC's failures that the
// library lets through (removing the whole document, moving a value into its own child, a missing path
// where the library would see an inherited property), segments that could reach an object's prototype
// refused, and every failure reported as a JsonPatchError naming the op index and path in plain words.
import jsonpatch, { type Operation } from 'fast-json-patch';
import type { JsonPatchOp } from './types.js';

export class JsonPatchError extends Error {
  readonly code = 'E_JSON_PATCH';
  constructor(
    readonly opIndex: number,
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

export const PATCH_OPS = ['add', 'remove', 'replace', 'move', 'copy', 'test'] as const;

/** Segments that name an object's prototype chain: a patch that wrote through one could change what every
 * object of the document inherits (prototype pollution), so no pointer may contain them. */
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

/** RFC 6901: `/a/b~1c/0` → ['a', 'b/c', '0']. */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`"${pointer}" is not a JSON pointer: it must be empty or start with "/"`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => {
      if (/~[^01]|~$/.test(t)) throw new Error(`"${pointer}" is not a JSON pointer: "~" must be followed by 0 or 1`);
      const token = t.replace(/~1/g, '/').replace(/~0/g, '~');
      if (FORBIDDEN_SEGMENTS.has(token))
        throw new Error(`"${pointer}" is refused: "${token}" is not allowed as a path segment (it could change an object's prototype)`);
      return token;
    });
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function pointerOf(tokens: readonly string[]): string {
  return tokens.map((t) => `/${t.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/** Walks `tokens` with own properties only; says where the walk stopped, for the error message. */
function walk(
  doc: unknown,
  tokens: readonly string[],
): { found: true; value: unknown } | { found: false; missing: string; array?: { index: string; length: number } } {
  let cur = doc;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as string;
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9]\d*)$/.test(t)) return { found: false, missing: pointerOf(tokens.slice(0, i + 1)) };
      if (Number(t) >= cur.length)
        return { found: false, missing: pointerOf(tokens.slice(0, i + 1)), array: { index: t, length: cur.length } };
      cur = cur[Number(t)];
    } else if (isObj(cur) && Object.prototype.hasOwnProperty.call(cur, t)) cur = cur[t];
    else return { found: false, missing: pointerOf(tokens.slice(0, i + 1)) };
  }
  return { found: true, value: cur };
}

function missingMessage(w: { missing: string; array?: { index: string; length: number } }): string {
  if (w.array) return `index ${w.array.index} is out of bounds (the array has ${w.array.length} elements)`;
  return `path "${w.missing}" does not exist`;
}

/** Checks the RFC's conditions that fast-json-patch does not, and phrases the ones it does in our words. */
function checkOp(doc: unknown, op: JsonPatchOp): void {
  const tokens = parsePointer(op.path);
  const from = op.op === 'move' || op.op === 'copy' ? parsePointer(op.from ?? '') : undefined;
  if (from) {
    const w = walk(doc, from);
    if (!w.found) throw new Error(missingMessage(w));
  }
  if (op.op === 'move' && op.path.startsWith(`${op.from ?? ''}/`))
    throw new Error(`cannot move "${op.from}" into its own child "${op.path}"`);
  if (op.op === 'remove' && tokens.length === 0) throw new Error('cannot remove the whole document');
  if (op.op === 'remove' || op.op === 'replace' || op.op === 'test') {
    const w = walk(doc, tokens);
    if (!w.found) throw new Error(missingMessage(w));
    if (op.op === 'test' && !jsonpatch._areEquals(w.value, op.value))
      throw new Error(`test failed: the value at "${op.path}" is ${JSON.stringify(w.value)}, not ${JSON.stringify(op.value)}`);
  }
  if (op.op === 'add' || op.op === 'move' || op.op === 'copy') {
    // RFC 6902 §4.1: the target's parent must exist; in an array the index may be at most its length.
    if (tokens.length === 0) return;
    const parent = walk(doc, tokens.slice(0, -1));
    if (!parent.found) throw new Error(missingMessage(parent));
    const last = tokens[tokens.length - 1] as string;
    if (Array.isArray(parent.value)) {
      if (last !== '-' && !/^(0|[1-9]\d*)$/.test(last)) throw new Error(`"${last}" is not an array index`);
      if (last !== '-' && Number(last) > parent.value.length)
        throw new Error(`index ${last} is out of bounds (the array has ${parent.value.length} elements)`);
    } else if (!isObj(parent.value)) {
      throw new Error(`cannot add "${last}" to a ${parent.value === null ? 'null' : typeof parent.value} value`);
    }
  }
}

/** Applies `ops` to a deep copy of `doc`; throws JsonPatchError naming the failing op. */
export function applyJsonPatch<T>(doc: T, ops: readonly JsonPatchOp[]): T {
  let cur: unknown = structuredClone(doc);
  ops.forEach((op, i) => {
    try {
      if (!(PATCH_OPS as readonly string[]).includes(op.op)) throw new Error(`unknown op "${String((op as { op: unknown }).op)}"`);
      checkOp(cur, op);
      // A clone of the op: the library stores values by reference (a later op would edit the patch itself)
      // and writes into the op it is given. Validation on, prototype writes banned (a second guard).
      cur = jsonpatch.applyOperation(cur, structuredClone(op) as Operation, true, true, true, i).newDocument;
    } catch (err) {
      if (err instanceof JsonPatchError) throw err;
      // The library's own errors (JsonPatchError with a name such as OPERATION_PATH_UNRESOLVABLE) and TypeError
      // for prototype writes carry its wording; checkOp above catches every case first, so this is a backstop.
      throw new JsonPatchError(i, op.path, (err as Error).message);
    }
  });
  return cur as T;
}
