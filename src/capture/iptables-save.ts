// Reading `iptables-save` output: which tables, chains and rules a network namespace has. Used to
// check for leftovers before capture, to find what cleanup must remove, and to compare rulesets.

export interface SavedTable {
  /** Chain name → policy ('ACCEPT', 'DROP' for built-in chains, '-' for user chains). */
  chains: Map<string, string>;
  /** Rule lines exactly as iptables-save printed them (`-A CHAIN ...`). */
  rules: string[];
}

export type SavedRuleset = Map<string, SavedTable>;

export function parseIptablesSave(text: string): SavedRuleset {
  const out: SavedRuleset = new Map();
  let current: SavedTable | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      const name = line.slice(1).trim();
      current = out.get(name) ?? { chains: new Map(), rules: [] };
      out.set(name, current);
    } else if (line === 'COMMIT') {
      current = undefined;
    } else if (current && line.startsWith(':')) {
      const [chain, policy] = line.slice(1).split(/\s+/);
      if (chain) current.chains.set(chain, policy ?? '-');
    } else if (current && line.startsWith('-A ')) {
      current.rules.push(line);
    }
  }
  return out;
}

/** A table with only built-in chains, ACCEPT policies and no rules filters nothing: the same as no table. */
export function isEmptyTable(t: SavedTable): boolean {
  if (t.rules.length > 0) return false;
  for (const policy of t.chains.values()) if (policy !== 'ACCEPT') return false;
  return true;
}

/**
 * A canonical text of a ruleset for comparing two `iptables-save` outputs: no comments or packet
 * counters, tables in name order. With `ignoreEmptyTables`, tables that filter nothing are left out
 * (iptables-legacy cannot remove a table once the kernel instantiated it).
 */
export function canonicalRuleset(text: string, opts: { ignoreEmptyTables?: boolean } = {}): string {
  const parsed = parseIptablesSave(text);
  const out: string[] = [];
  for (const name of [...parsed.keys()].sort()) {
    const t = parsed.get(name)!;
    if (opts.ignoreEmptyTables && isEmptyTable(t)) continue;
    out.push(`*${name}`);
    for (const [chain, policy] of t.chains) out.push(`:${chain} ${policy}`);
    out.push(...t.rules, 'COMMIT');
  }
  return out.join('\n');
}
