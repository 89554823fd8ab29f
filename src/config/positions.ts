// Source positions of fields in a parsed YAML (or JSON) document, so that every diagnostic can name
// the line and column of the offending field. Positions are 1-based, as editors show them.
import { isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import { formatFieldPath } from './diagnostics.js';

export interface Position {
  line: number;
  column: number;
}

type Seg = string | number;

function start(node: unknown, lc: LineCounter): Position | undefined {
  const r = (node as { range?: [number, number, number] } | null)?.range;
  if (!r) return undefined;
  const p = lc.linePos(r[0]);
  return { line: p.line, column: p.col };
}

/** Finds positions inside one object of a document (the document itself, or `items[i]` of a List). */
export class FieldLocator {
  constructor(
    private readonly doc: Document.Parsed | undefined,
    private readonly lc: LineCounter,
    private readonly base: readonly Seg[],
    /** Where the object starts; used when nothing closer is known. */
    readonly objectStart: Position,
  ) {}

  /**
   * The position of `path`: the value (or, with `key`, the key) when the path exists; otherwise the
   * key of the deepest ancestor that does exist, which is where a missing field belongs.
   */
  locate(path: readonly Seg[], opts: { key?: boolean } = {}): Position {
    if (!this.doc) return this.objectStart;
    let node: unknown = this.doc.contents;
    let lastKey: unknown;
    let lastNode: unknown = node;
    const full = [...this.base, ...path];
    let resolved = true;
    for (const seg of full) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) {
          resolved = false;
          break;
        }
        lastKey = pair.key;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
        node = node.items[seg];
        lastKey = node;
      } else {
        resolved = false;
        break;
      }
      if (node !== null && node !== undefined) lastNode = node;
    }
    if (resolved) {
      const p = opts.key && lastKey ? start(lastKey, this.lc) : (start(node, this.lc) ?? start(lastKey, this.lc));
      return p ?? this.objectStart;
    }
    return start(lastKey, this.lc) ?? start(lastNode, this.lc) ?? this.objectStart;
  }

  /** Every field of the object: formatted path → position of its key (or of the item, in a list). */
  allPositions(): Map<string, Position> {
    const out = new Map<string, Position>();
    if (!this.doc) return out;
    let root: unknown = this.doc.contents;
    for (const seg of this.base) {
      if (isMap(root))
        root = (
          root.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg)) as { value?: unknown } | undefined
        )?.value;
      else if (isSeq(root) && typeof seg === 'number') root = root.items[seg];
      else return out;
    }
    const walk = (node: unknown, path: Seg[], depth: number): void => {
      if (depth > 64) return; // positions below this depth are not worth the stack
      if (isMap(node)) {
        for (const p of node.items) {
          if (!isPair(p) || !isScalar(p.key)) continue;
          const k = String(p.key.value);
          const pos = start(p.key, this.lc);
          const sub = [...path, k];
          if (pos) out.set(formatFieldPath(sub), pos);
          walk(p.value, sub, depth + 1);
        }
      } else if (isSeq(node)) {
        node.items.forEach((item, i) => {
          const sub = [...path, i];
          const pos = start(item as Node, this.lc);
          if (pos) out.set(formatFieldPath(sub), pos);
          walk(item, sub, depth + 1);
        });
      }
    };
    walk(root, [], 0);
    return out;
  }
}
