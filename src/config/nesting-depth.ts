// How deeply configuration text nests, checked before the YAML parser sees it and again on the parsed
// value. The parser and everything after it (validation, snapshots, hashing) recurse once per level, so a
// small file nested thousands of levels deep (`[[[[...`, `{a: {a: ...`, `- - - ...`) exhausts the stack;
// a stack overflow caught in the wrong frame leaves a half-read file, and in native code aborts the process.
// Refusing such text up front keeps the control plane serving its last good config.

/**
 * Deepest nesting accepted. Kubernetes and Istio objects never come close: the deepest real fields
 * (a Gateway's `spec.servers[].tls...`, a DestinationRule's `spec.subsets[].trafficPolicy.portLevelSettings[]
 * .tls...`, a Service's patched `spec.ports[]`) sit about 8 to 12 levels down, and Kubernetes' own JSON
 * decoder stops at 10,000 only to protect itself. 100 leaves room for any hand-written nesting while
 * staying far below the depth (around 800) at which the parser runs out of stack.
 */
export const MAX_CONFIG_NESTING_DEPTH = 100;

interface BlockLevel {
  column: number;
  sequence: boolean;
}

/**
 * A cheap scan of YAML or JSON text (one pass, no allocation per character) that returns the offset of
 * the first character at which nesting exceeds `max` levels, or undefined. It over-estimates rather
 * than under-estimates: block levels are counted from indentation and `-`/`?` indicators (a sequence
 * written at its key's own indentation counts as a level), flow levels from `[`/`{` that start a node;
 * quoted strings, comments and block scalars (`|`, `>`) are skipped.
 */
export function findExcessiveNesting(text: string, max = MAX_CONFIG_NESTING_DEPTH): number | undefined {
  const block: BlockLevel[] = [];
  let flow = 0;
  let quote: '' | '"' | "'" = '';
  let blockScalarParent = -1; // indentation of the line that opened a block scalar, -1 when none
  let lineStart = 0;
  while (lineStart <= text.length) {
    let lineEnd = text.indexOf('\n', lineStart);
    if (lineEnd < 0) lineEnd = text.length;
    const line = text.slice(lineStart, lineEnd);
    let indent = 0;
    while (indent < line.length && line[indent] === ' ') indent++;
    const blank = indent === line.length || line.trim() === '';
    if (blockScalarParent >= 0) {
      if (blank || indent > blockScalarParent) {
        lineStart = lineEnd + 1;
        continue;
      }
      blockScalarParent = -1;
    }
    let pos = indent;
    if (quote === '' && flow === 0 && !blank && line[indent] !== '#') {
      if (indent === 0 && /^(---|\.\.\.)(\s|$)/.test(line)) {
        block.length = 0; // a new document
        pos = 3;
      } else if (line[indent] !== '[' && line[indent] !== '{') {
        // (A line that starts a flow collection is no block level of its own: its brackets are counted below.)
        const dash = (line[pos] === '-' || line[pos] === '?') && (pos + 1 === line.length || line[pos + 1] === ' ');
        while (block.length > 0 && block[block.length - 1]!.column > indent) block.pop();
        const top = block[block.length - 1];
        if (top && top.column === indent) {
          // A key at the column of a sequence ends that sequence (it was the value of a key at this column).
          if (top.sequence && !dash) block.pop();
          // A `- ` at the column of a mapping key is a sequence nested in that key's value.
          if (top.sequence !== dash && (dash || block[block.length - 1]?.column !== indent)) block.push({ column: indent, sequence: dash });
        } else {
          block.push({ column: indent, sequence: dash });
        }
        // Compact nesting on one line: `- - - x`, `- key: value`, `? - x`.
        while ((line[pos] === '-' || line[pos] === '?') && (pos + 1 === line.length || line[pos + 1] === ' ')) {
          pos++;
          while (line[pos] === ' ') pos++;
          if (pos >= line.length || line[pos] === '#') break;
          const nested = (line[pos] === '-' || line[pos] === '?') && (pos + 1 === line.length || line[pos + 1] === ' ');
          // The entry is a collection when it is another `- ` or a `key:`; a scalar or a flow collection adds no block level.
          if (nested || (line[pos] !== '[' && line[pos] !== '{' && /:(\s|$)/.test(line.slice(pos)))) {
            block.push({ column: pos, sequence: nested });
            if (block.length + flow > max) return lineStart + pos;
          }
          if (!nested) break;
        }
        if (block.length + flow > max) return lineStart + pos;
      }
    }
    let lastToken = '';
    // Inside a plain scalar (`it's a[0] {x`) quotes and brackets are just characters; it ends at `: `
    // or ` #`, and in a flow collection also at `,`, `]`, `}`. It starts again on each line: a
    // continuation line read as structure can only over-count.
    let plain = false;
    for (let i = pos; i < line.length; i++) {
      const c = line[i]!;
      if (quote === '"') {
        if (c === '\\') i++;
        else if (c === '"') quote = '';
        continue;
      }
      if (quote === "'") {
        if (c === "'" && line[i + 1] === "'") i++;
        else if (c === "'") quote = '';
        continue;
      }
      const next = line[i + 1];
      const spaceAfter = next === undefined || next === ' ' || next === '\t';
      if (c === '#' && (i === 0 || line[i - 1] === ' ' || line[i - 1] === '\t')) break;
      if (c === ' ' || c === '\t') continue;
      lastToken = c;
      if (plain) {
        if (c === ':' && (spaceAfter || (flow > 0 && (next === ',' || next === ']' || next === '}')))) plain = false;
        else if (flow > 0 && (c === ',' || c === ']' || c === '}' || c === '[' || c === '{'))
          plain = false; // handled below
        else continue;
        if (c === ':') continue;
      }
      if (c === '"' || c === "'") quote = c;
      else if (c === '[' || c === '{') {
        flow++;
        if (block.length + flow > max) return lineStart + i;
      } else if (c === ']' || c === '}') {
        if (flow > 0) flow--;
      } else if (c === ',' || c === ':') {
        // separators
      } else if ((c === '-' || c === '?') && spaceAfter) {
        // an indicator
      } else if (c === '&' || c === '!' || c === '*') {
        // An anchor, tag or alias: its name runs to the next space or flow indicator; a node may follow.
        while (i + 1 < line.length && !' \t,[]{}'.includes(line[i + 1]!)) i++;
      } else {
        plain = true;
      }
    }
    // `key: |`, `- >-`, `key: |2+` open a block scalar: its lines are text, not structure.
    if (quote === '' && flow === 0 && lastToken !== '' && /(^|[\s:-])[|>][-+0-9]*\s*(#.*)?$/.test(line)) blockScalarParent = indent;
    lineStart = lineEnd + 1;
  }
  return undefined;
}

/**
 * The path to the first value nested deeper than `max` levels in a parsed value (iteratively, so the
 * check itself cannot overflow), or undefined. YAML aliases can make a value far deeper than its text:
 * each anchor may hold an alias of the one before.
 */
export function findExcessiveValueNesting(value: unknown, max = MAX_CONFIG_NESTING_DEPTH): (string | number)[] | undefined {
  const stack: { v: unknown; depth: number; path: (string | number)[] }[] = [{ v: value, depth: 0, path: [] }];
  // An object reached again through an alias is walked again only from a deeper position, so shared
  // anchors cost at most `max` walks each and a cycle (an alias inside its own anchor) ends at `max`.
  const deepestSeen = new Map<object, number>();
  while (stack.length > 0) {
    const { v, depth, path } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > max) return path;
    if ((deepestSeen.get(v) ?? -1) >= depth) continue;
    deepestSeen.set(v, depth);
    if (Array.isArray(v)) v.forEach((item, i) => stack.push({ v: item, depth: depth + 1, path: [...path, i] }));
    else for (const [k, item] of Object.entries(v)) stack.push({ v: item, depth: depth + 1, path: [...path, k] });
  }
  return undefined;
}
