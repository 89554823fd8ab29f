// From loaded objects and patches to one consistent, immutable ConfigSnapshot: duplicates are
// refused, JSON patches are applied to their targets and the result validated again, short host names
// are resolved against each object's namespace, and objects are grouped by kind.
import { DiagnosticCodes, type Diagnostic } from './diagnostics.js';
import { resolveShortHost } from './hosts.js';
import { JsonPatchError, applyJsonPatch } from './json-patch.js';
import type { LoadedObject, LoadedPatch } from './load.js';
import { FieldLocator } from './positions.js';
import {
  objectKey,
  type ConfigObject,
  type ConfigSnapshot,
  type DestinationRule,
  type MeshConfig,
  type Secret,
  type SourceRef,
  type VirtualService,
} from './types.js';
import { validateObject } from './validate-object.js';
import { LineCounter } from 'yaml';

function toRaw(o: ConfigObject): Record<string, unknown> {
  if (o.kind === 'Secret') {
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.data)) data[k] = v.toString('base64');
    const { data: _d, ...rest } = o;
    return { ...structuredClone(rest), data };
  }
  return structuredClone(o) as unknown as Record<string, unknown>;
}

function patchDiag(
  level: Diagnostic['level'],
  code: string,
  p: LoadedPatch,
  message: string,
  opIndex?: number,
  object?: string,
): Diagnostic {
  const pos = opIndex !== undefined ? (p.source.positions?.get(`[${opIndex}]`) ?? p.source) : p.source;
  const d: Diagnostic = { level, code, message, file: p.source.file, line: pos.line, column: pos.column };
  if (object) d.object = object;
  if (opIndex !== undefined) d.field = `[${opIndex}]`;
  return d;
}

/** Applies one patch to the objects in `byKey`; returns diagnostics, replaces the object on success. */
export function applyPatchTo(byKey: Map<string, LoadedObject>, p: LoadedPatch): Diagnostic[] {
  if (!p.target) {
    return [
      patchDiag(
        'Warning',
        DiagnosticCodes.PatchWithoutTarget,
        p,
        `JSON patch has no target (no kustomization.yaml beside it names one); its ${p.ops.length} operation(s) were checked but cannot be applied`,
      ),
    ];
  }
  const key = `${p.target.kind}/${p.target.namespace}/${p.target.name}`;
  const current = byKey.get(key);
  if (!current)
    return [patchDiag('Error', DiagnosticCodes.PatchTargetNotFound, p, `the patch target ${key} does not exist`, undefined, key)];
  let patched: Record<string, unknown>;
  try {
    patched = applyJsonPatch(toRaw(current.object), p.ops);
  } catch (err) {
    if (err instanceof JsonPatchError) {
      const op = p.ops[err.opIndex];
      return [
        patchDiag(
          'Error',
          DiagnosticCodes.PatchFailed,
          p,
          `op ${err.opIndex} (${op?.op ?? '?'} ${err.path}) failed on ${key}: ${err.message}; the object is left unpatched`,
          err.opIndex,
          key,
        ),
      ];
    }
    throw err;
  }
  const locator = new FieldLocator(undefined, new LineCounter(), [], { line: p.source.line, column: p.source.column });
  const r = validateObject(patched, { file: p.source.file, locator });
  const errors = r.diagnostics.filter((d) => d.level === 'Error');
  if (!r.object || errors.length > 0) {
    return [
      patchDiag(
        'Error',
        DiagnosticCodes.PatchFailed,
        p,
        `the patched ${key} is invalid, so the patch is not applied: ${errors.map((d) => `${d.field ?? ''}: ${d.message}`).join('; ')}`,
        undefined,
        key,
      ),
    ];
  }
  if (objectKey(r.object) !== key) {
    return [
      patchDiag(
        'Error',
        DiagnosticCodes.PatchFailed,
        p,
        `the patch renames ${key} to ${objectKey(r.object)}; patches must not change kind, namespace or name`,
        undefined,
        key,
      ),
    ];
  }
  byKey.set(key, { object: r.object, source: current.source });
  return r.diagnostics.map((d) => ({ ...d, object: key }));
}

/** Resolved copies by original object and domain suffix: an unchanged object is copied once, not on every rebuild. */
const resolvedCopies = new WeakMap<ConfigObject, { domainSuffix: string; copy: ConfigObject }>();

function resolveHosts(o: ConfigObject, domainSuffix: string): ConfigObject {
  const hit = resolvedCopies.get(o);
  if (hit && hit.domainSuffix === domainSuffix) return hit.copy;
  const copy = resolveHostsOnce(o, domainSuffix);
  resolvedCopies.set(o, { domainSuffix, copy });
  return copy;
}

function resolveHostsOnce(o: ConfigObject, domainSuffix: string): ConfigObject {
  if (o.kind === 'DestinationRule') {
    const dr = structuredClone(o) as DestinationRule;
    dr.spec.host = resolveShortHost(dr.spec.host, dr.metadata.namespace, domainSuffix);
    return dr;
  }
  if (o.kind === 'VirtualService') {
    const vs = structuredClone(o) as VirtualService;
    const ns = vs.metadata.namespace;
    if (vs.spec.hosts) vs.spec.hosts = vs.spec.hosts.map((h) => resolveShortHost(h, ns, domainSuffix));
    for (const r of [...(vs.spec.tcp ?? []), ...(vs.spec.tls ?? [])])
      for (const d of r.route ?? []) d.destination.host = resolveShortHost(d.destination.host, ns, domainSuffix);
    for (const r of vs.spec.http ?? []) {
      for (const d of (r.route ?? []) as { destination?: { host?: string } }[])
        if (d.destination?.host) d.destination.host = resolveShortHost(d.destination.host, ns, domainSuffix);
    }
    return vs;
  }
  return o;
}

export function emptySnapshot(mesh: MeshConfig, version = 0): ConfigSnapshot {
  return buildSnapshot([], [], mesh, version).snapshot;
}

export function buildSnapshot(
  objects: LoadedObject[],
  patches: LoadedPatch[],
  mesh: MeshConfig,
  version: number,
): { snapshot: ConfigSnapshot; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const byKey = new Map<string, LoadedObject>();
  for (const o of objects) {
    const key = objectKey(o.object);
    const first = byKey.get(key);
    if (first) {
      diagnostics.push({
        level: 'Error',
        code: DiagnosticCodes.DuplicateObject,
        message: `duplicate object: ${key} is already defined at ${first.source.file}:${first.source.line}:${first.source.column}; this one is ignored`,
        file: o.source.file,
        line: o.source.line,
        column: o.source.column,
        object: key,
      });
      continue;
    }
    byKey.set(key, o);
  }
  for (const p of patches) diagnostics.push(...applyPatchTo(byKey, p));

  const snap = {
    version,
    meshConfig: mesh,
    serviceEntries: [] as ConfigObject[],
    virtualServices: [] as ConfigObject[],
    destinationRules: [] as ConfigObject[],
    gateways: [] as ConfigObject[],
    sidecars: [] as ConfigObject[],
    peerAuthentications: [] as ConfigObject[],
    authorizationPolicies: [] as ConfigObject[],
    services: [] as ConfigObject[],
    secrets: [] as Secret[],
    namespaces: [] as ConfigObject[],
    serviceAccounts: [] as ConfigObject[],
    pods: [] as ConfigObject[],
    sources: new Map<string, SourceRef>(),
  };
  const list: Record<ConfigObject['kind'], ConfigObject[]> = {
    ServiceEntry: snap.serviceEntries,
    VirtualService: snap.virtualServices,
    DestinationRule: snap.destinationRules,
    Gateway: snap.gateways,
    Sidecar: snap.sidecars,
    PeerAuthentication: snap.peerAuthentications,
    AuthorizationPolicy: snap.authorizationPolicies,
    Service: snap.services,
    Secret: snap.secrets,
    Namespace: snap.namespaces,
    ServiceAccount: snap.serviceAccounts,
    Pod: snap.pods,
  };
  const keys = [...byKey.keys()].sort();
  for (const key of keys) {
    const lo = byKey.get(key) as LoadedObject;
    list[lo.object.kind].push(resolveHosts(lo.object, mesh.domainSuffix));
    snap.sources.set(key, lo.source);
  }
  return { snapshot: snap as unknown as ConfigSnapshot, diagnostics };
}
