// RFC 6902 JSON Patch (all six operations) over plain JSON values, with RFC 6901 pointers. Written
// here rather than pulled in: it is small, and meshgate needs failures that name the op and the path.
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

/** RFC 6901: `/a/b~1c/0` → ['a', 'b/c', '0']. */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`"${pointer}" is not a JSON pointer: it must be empty or start with "/"`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => {
      if (/~[^01]|~$/.test(t)) throw new Error(`"${pointer}" is not a JSON pointer: "~" must be followed by 0 or 1`);
      return t.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

type Json = unknown;

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function arrayIndex(token: string, arr: unknown[], allowEnd: boolean): number {
  if (allowEnd && token === '-') return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw new Error(`"${token}" is not an array index`);
  const i = Number(token);
  if (i > arr.length || (!allowEnd && i === arr.length)) throw new Error(`index ${i} is out of bounds (the array has ${arr.length} elements)`);
  return i;
}

function parentOf(doc: Json, tokens: string[]): { parent: unknown; last: string } {
  let cur: unknown = doc;
  for (let i = 0; i < tokens.length - 1; i++) {
    const t = tokens[i] as string;
    if (Array.isArray(cur)) cur = cur[arrayIndex(t, cur, false)];
    else if (isObj(cur) && Object.prototype.hasOwnProperty.call(cur, t)) cur = cur[t];
    else throw new Error(`path "/${tokens.slice(0, i + 1).join('/')}" does not exist`);
  }
  return { parent: cur, last: tokens[tokens.length - 1] as string };
}

function get(doc: Json, tokens: string[]): unknown {
  if (tokens.length === 0) return doc;
  const { parent, last } = parentOf(doc, tokens);
  if (Array.isArray(parent)) return parent[arrayIndex(last, parent, false)];
  if (isObj(parent) && Object.prototype.hasOwnProperty.call(parent, last)) return parent[last];
  throw new Error(`path "/${tokens.join('/')}" does not exist`);
}

function add(doc: Json, tokens: string[], value: unknown): Json {
  if (tokens.length === 0) return value;
  const { parent, last } = parentOf(doc, tokens);
  if (Array.isArray(parent)) parent.splice(arrayIndex(last, parent, true), 0, value);
  else if (isObj(parent)) parent[last] = value;
  else throw new Error(`cannot add "${last}" to a ${parent === null ? 'null' : typeof parent} value`);
  return doc;
}

function remove(doc: Json, tokens: string[]): Json {
  if (tokens.length === 0) throw new Error('cannot remove the whole document');
  const { parent, last } = parentOf(doc, tokens);
  if (Array.isArray(parent)) parent.splice(arrayIndex(last, parent, false), 1);
  else if (isObj(parent) && Object.prototype.hasOwnProperty.call(parent, last)) delete parent[last];
  else throw new Error(`path "/${tokens.join('/')}" does not exist`);
  return doc;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/** Applies `ops` to a deep copy of `doc`; throws JsonPatchError naming the failing op. */
export function applyJsonPatch<T>(doc: T, ops: readonly JsonPatchOp[]): T {
  let cur: Json = structuredClone(doc);
  ops.forEach((op, i) => {
    try {
      const tokens = parsePointer(op.path);
      switch (op.op) {
        case 'add':
          cur = add(cur, tokens, structuredClone(op.value));
          break;
        case 'remove':
          cur = remove(cur, tokens);
          break;
        case 'replace':
          get(cur, tokens);
          cur = tokens.length === 0 ? structuredClone(op.value) : add(remove(cur, tokens), tokens, structuredClone(op.value));
          break;
        case 'move': {
          const from = parsePointer(op.from ?? '');
          if (op.path.startsWith(`${op.from ?? ''}/`)) throw new Error(`cannot move "${op.from}" into its own child "${op.path}"`);
          const v = get(cur, from);
          cur = add(remove(cur, from), tokens, v);
          break;
        }
        case 'copy':
          cur = add(cur, tokens, structuredClone(get(cur, parsePointer(op.from ?? ''))));
          break;
        case 'test': {
          const actual = get(cur, tokens);
          if (!deepEqual(actual, op.value)) throw new Error(`test failed: the value at "${op.path}" is ${JSON.stringify(actual)}, not ${JSON.stringify(op.value)}`);
          break;
        }
        default:
          throw new Error(`unknown op "${String((op as { op: unknown }).op)}"`);
      }
    } catch (err) {
      if (err instanceof JsonPatchError) throw err;
      throw new JsonPatchError(i, op.path, (err as Error).message);
    }
  });
  return cur as T;
}
