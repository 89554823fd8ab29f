// Label and field selectors as list and watch take them (`?labelSelector=app=db,tier!=web,canary,!old`,
// `?fieldSelector=metadata.name=x`). Set-based label terms (`in`, `notin`) are not served: the double
// answers them with 400 rather than matching something else.
import { ApiError } from './object-store.js';
import type { JsonObject } from './patch.js';

export type Selector = (o: JsonObject) => boolean;

function meta(o: JsonObject): JsonObject {
  return (o.metadata ?? {}) as JsonObject;
}

export function parseLabelSelector(s: string | null): Selector {
  if (!s) return () => true;
  const terms = s
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  const tests = terms.map((t): Selector => {
    if (/\s(in|notin)\s/.test(t))
      throw new ApiError(400, 'BadRequest', `unable to parse requirement "${t}": set-based selectors are not served by this API server`);
    const ne = t.indexOf('!=');
    const labels = (o: JsonObject): Record<string, unknown> => (meta(o).labels ?? {}) as Record<string, unknown>;
    if (ne > 0) return (o) => labels(o)[t.slice(0, ne)] !== t.slice(ne + 2);
    const eq = t.indexOf('=');
    if (eq > 0) {
      const v = t.slice(t[eq + 1] === '=' ? eq + 2 : eq + 1);
      return (o) => labels(o)[t.slice(0, eq)] === v;
    }
    if (t.startsWith('!')) return (o) => !(t.slice(1) in labels(o));
    return (o) => t in labels(o);
  });
  return (o) => tests.every((f) => f(o));
}

export function parseFieldSelector(s: string | null): Selector {
  if (!s) return () => true;
  const tests = s.split(',').map((t): Selector => {
    const m = /^(metadata\.name|metadata\.namespace)(==?|!=)(.*)$/.exec(t.trim());
    if (!m) throw new ApiError(400, 'BadRequest', `field label not supported: "${t}" (metadata.name and metadata.namespace are)`);
    const field = m[1] === 'metadata.name' ? 'name' : 'namespace';
    return m[2] === '!=' ? (o) => meta(o)[field] !== m[3] : (o) => meta(o)[field] === m[3];
  });
  return (o) => tests.every((f) => f(o));
}
