// A unified diff of two texts, line by line (`diff -u`'s format: ---/+++ headers, @@ hunks with three
// lines of context), for `proxy-status POD`, which shows what the control plane sent against what
// the proxy holds as istioctl does. Common leading and trailing lines are set aside first, so the
// longest-common-subsequence table covers only the part that differs.

type Op = { kind: ' ' | '-' | '+'; line: string; a: number; b: number };

function lineOps(a: readonly string[], b: readonly string[]): Op[] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const n = endA - start;
  const m = endB - start;
  // lcs[i][j]: the longest common subsequence of a[start+i..endA) and b[start+j..endB).
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = a[start + i] === b[start + j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const ops: Op[] = [];
  for (let k = 0; k < start; k++) ops.push({ kind: ' ', line: a[k]!, a: k, b: k });
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[start + i] === b[start + j]) {
      ops.push({ kind: ' ', line: a[start + i]!, a: start + i, b: start + j });
      i++;
      j++;
    } else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      // Removals before additions, as diff(1) prints a changed line.
      ops.push({ kind: '-', line: a[start + i]!, a: start + i, b: start + j });
      i++;
    } else {
      ops.push({ kind: '+', line: b[start + j]!, a: start + i, b: start + j });
      j++;
    }
  }
  for (let k = 0; k < a.length - endA; k++) ops.push({ kind: ' ', line: a[endA + k]!, a: endA + k, b: endB + k });
  return ops;
}

/** `diff -u` of `a` and `b` labelled `fromName`/`toName`; the empty string when they are equal. */
export function unifiedDiff(a: string, b: string, fromName: string, toName: string, context = 3): string {
  if (a === b) return '';
  const ops = lineOps(a.split('\n'), b.split('\n'));
  const out = [`--- ${fromName}`, `+++ ${toName}`];
  let k = 0;
  while (k < ops.length) {
    while (k < ops.length && ops[k]!.kind === ' ') k++;
    if (k >= ops.length) break;
    // A hunk: from `context` lines before this change to `context` after the last change closer than 2*context.
    const first = Math.max(0, k - context);
    let last = k;
    for (let x = k; x < ops.length; x++) {
      if (ops[x]!.kind !== ' ') last = x;
      else if (x - last > 2 * context) break;
    }
    const end = Math.min(ops.length, last + context + 1);
    const hunk = ops.slice(first, end);
    const aLen = hunk.filter((o) => o.kind !== '+').length;
    const bLen = hunk.filter((o) => o.kind !== '-').length;
    const aStart = hunk[0]!.a + (aLen > 0 ? 1 : 0);
    const bStart = hunk[0]!.b + (bLen > 0 ? 1 : 0);
    out.push(`@@ -${aStart},${aLen} +${bStart},${bLen} @@`, ...hunk.map((o) => `${o.kind}${o.line}`));
    k = end;
  }
  return `${out.join('\n')}\n`;
}
