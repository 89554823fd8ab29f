// An object read from the API server becomes what a file holding it would load as: the same loader and
// validation (load-text.ts, validate-object.ts), so a bad object is refused with the same diagnostic a
// file gets, naming `Kind namespace/name` and the field. What the API server adds and the mesh never
// reads is dropped first: managedFields, kubectl's last-applied annotation (a second copy of the object),
// and an Istio object's status (istiod writes it; it is not config).
import { loadConfigText, type LoadResult } from '../config/load.js';
import { apiVersionOf, type WatchedKind } from './watched-kinds.js';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    managedFields?: unknown;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** The store's source id for one object: one source per object, so each keeps its own last good version. */
export function objectSourceId(kind: string, o: KubeObject): string {
  const ns = o.metadata?.namespace;
  return `kubernetes:${kind}/${ns ?? ''}/${o.metadata?.name ?? ''}`;
}

/** What diagnostics print where a file's name would be: `kubernetes:Gateway/istio-system/name@rv`. */
function label(kind: string, o: KubeObject): string {
  return `${objectSourceId(kind, o)}@${o.metadata?.resourceVersion ?? ''}`;
}

export function cleanObject(k: WatchedKind, version: string, o: KubeObject): KubeObject {
  const metadata = { ...(o.metadata ?? {}) };
  delete metadata.managedFields;
  if (metadata.annotations && LAST_APPLIED in metadata.annotations) {
    const { [LAST_APPLIED]: _dropped, ...rest } = metadata.annotations;
    metadata.annotations = rest;
  }
  const out: KubeObject = { ...o, apiVersion: o.apiVersion ?? apiVersionOf(k, version), kind: o.kind ?? k.kind, metadata };
  if (k.group !== '') delete out.status;
  return out;
}

/** Loads one API object as the file loader would. */
export function loadKubeObject(k: WatchedKind, version: string, o: KubeObject): LoadResult {
  const clean = cleanObject(k, version, o);
  return loadConfigText(JSON.stringify(clean, null, 2), label(k.kind, clean));
}
