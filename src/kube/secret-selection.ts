// Which Secrets the config source reads: only those a Gateway or DestinationRule names as
// credentialName, and each one's `<name>-cacert` companion, as Istio's credential controller reads
// gateway credentials by name and never lists every Secret (service-account tokens, other teams' keys).
// Names are watched in every namespace: which namespace's copy a proxy may get is decided when config is
// served (model/secrets.ts reads the gateway's own namespace; the xDS server checks the identity).
import type { ConfigSnapshot } from '../config/types.js';

const CACERT_SUFFIX = '-cacert';

function collect(v: unknown, out: Set<string>, depth = 0): void {
  if (depth > 12 || v === null || typeof v !== 'object') return;
  if (Array.isArray(v)) {
    for (const x of v) collect(x, out, depth + 1);
    return;
  }
  for (const [k, x] of Object.entries(v)) {
    if (k === 'credentialName' && typeof x === 'string' && x !== '') {
      out.add(x);
    } else if (k === 'credentialNames' && Array.isArray(x)) {
      for (const n of x) if (typeof n === 'string' && n !== '') out.add(n);
    } else {
      collect(x, out, depth + 1);
    }
  }
}

/** Every Secret name the snapshot's Gateways and DestinationRules name, with the `-cacert` companions, sorted. */
export function selectedSecretNames(snap: ConfigSnapshot): string[] {
  const names = new Set<string>();
  for (const g of snap.gateways) collect(g.spec, names);
  for (const d of snap.destinationRules) collect(d.spec, names);
  const out = new Set<string>();
  for (const n of names) {
    out.add(n);
    if (!n.endsWith(CACERT_SUFFIX)) out.add(`${n}${CACERT_SUFFIX}`);
  }
  return [...out].sort();
}
