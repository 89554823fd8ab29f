// The patch types `kubectl apply`/`kubectl patch` send: RFC 7386 JSON merge patch (custom resources),
// RFC 6902 JSON patch, and the part of Kubernetes' strategic merge patch that core objects need: lists
// of objects merged by their merge key (`name`, `port`, `containerPort`, `ip`) instead of replaced,
// `$patch: delete`/`replace` on list items and maps, `$setElementOrder/<field>` and
// `$deleteFromPrimitiveList/<field>` directives, and `$retainKeys`. The real server reads merge keys
// from each Go type's struct tags; the double infers them from the items, which holds for the kinds it
// serves.
import { applyJsonPatch } from '../../config/json-patch.js';
import type { JsonPatchOp } from '../../config/types.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

export class PatchError extends Error {
  readonly code = 'E_KUBE_PATCH';
}

function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const SAFE = (k: string): boolean => k !== '__proto__' && k !== 'constructor' && k !== 'prototype';

/** RFC 7386: null deletes, objects merge, everything else replaces. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (!SAFE(k)) throw new PatchError(`patch key "${k}" is not allowed`);
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k] ?? null, v);
  }
  return out;
}

const MERGE_KEYS = ['name', 'port', 'containerPort', 'ip', 'mountPath', 'devicePath'];

function mergeKeyOf(items: Json[]): string | undefined {
  const objs = items.filter(isObject);
  if (objs.length === 0 || objs.length !== items.length) return undefined;
  return MERGE_KEYS.find((k) => objs.every((o) => o[k] !== undefined));
}

function strategicList(target: Json | undefined, patch: Json[], order: Json[] | undefined): Json[] {
  const cur = Array.isArray(target) ? target : [];
  const key =
    mergeKeyOf([...cur, ...patch.filter((p) => !(isObject(p) && p.$patch !== undefined && Object.keys(p).length === 1))]) ??
    mergeKeyOf(patch);
  if (!key) return patch; // primitive or keyless lists are replaced, as the real server does for atomic lists
  if (patch.some((p) => isObject(p) && p.$patch === 'replace')) return patch.filter((p) => !(isObject(p) && p.$patch === 'replace'));
  const out = cur.map((c) => c);
  for (const p of patch) {
    if (!isObject(p)) continue;
    const i = out.findIndex((c) => isObject(c) && c[key] === p[key]);
    if (p.$patch === 'delete') {
      if (i >= 0) out.splice(i, 1);
      continue;
    }
    if (i >= 0) out[i] = strategicMergePatch(out[i] as Json, p);
    else out.push(strategicMergePatch(null, p));
  }
  if (order) {
    const rank = (v: Json): number => {
      const j = order.findIndex((o) => isObject(o) && isObject(v) && o[key] === v[key]);
      return j < 0 ? order.length : j;
    };
    out.sort((a, b) => rank(a) - rank(b));
  }
  return out;
}

/** Kubernetes' strategic merge patch for the objects the double serves (see the file comment). */
export function strategicMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  if (patch.$patch === 'replace') {
    const { $patch: _, ...rest } = patch;
    return strategicMergePatch(null, rest);
  }
  if (patch.$patch === 'delete') return null;
  let out: JsonObject = isObject(target) ? { ...target } : {};
  const retain = Array.isArray(patch.$retainKeys) ? patch.$retainKeys : undefined;
  if (retain) out = Object.fromEntries(Object.entries(out).filter(([k]) => retain.includes(k)));
  for (const [k, v] of Object.entries(patch)) {
    if (!SAFE(k)) throw new PatchError(`patch key "${k}" is not allowed`);
    if (k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      const drop = Array.isArray(v) ? v : [];
      if (Array.isArray(out[field])) out[field] = (out[field] as Json[]).filter((x) => !drop.includes(x));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    if (Array.isArray(v)) {
      const order = patch[`$setElementOrder/${k}`];
      out[k] = strategicList(out[k], v, Array.isArray(order) ? order : undefined);
    } else {
      const merged = strategicMergePatch(out[k] ?? null, v);
      if (merged === null) delete out[k];
      else out[k] = merged;
    }
  }
  // An order given for a field the patch did not otherwise touch still reorders it.
  for (const [k, order] of Object.entries(patch)) {
    if (!k.startsWith('$setElementOrder/') || !Array.isArray(order)) continue;
    const field = k.slice('$setElementOrder/'.length);
    if (patch[field] === undefined && Array.isArray(out[field])) out[field] = strategicList(out[field], [], order);
  }
  return out;
}

export type PatchType = 'merge' | 'strategic' | 'json';

export function patchTypeOf(contentType: string | undefined): PatchType | undefined {
  const ct = (contentType ?? '').split(';')[0]!.trim();
  if (ct === 'application/merge-patch+json') return 'merge';
  if (ct === 'application/strategic-merge-patch+json') return 'strategic';
  if (ct === 'application/json-patch+json') return 'json';
  return undefined;
}

export function applyPatch(type: PatchType, target: JsonObject, body: unknown): JsonObject {
  let out: Json;
  if (type === 'json') {
    if (!Array.isArray(body)) throw new PatchError('a JSON patch must be an array of operations');
    out = applyJsonPatch(structuredClone(target) as Json, body as JsonPatchOp[]);
  } else if (type === 'merge') out = mergePatch(target, body as Json);
  else out = strategicMergePatch(target, body as Json);
  if (!isObject(out)) throw new PatchError('the patch did not produce an object');
  return out;
}

export type { Json, JsonObject };
