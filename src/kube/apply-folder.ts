// Puts a config folder into a Kubernetes API server, as `kubectl apply` of the folder would after its
// kustomization's JSON patches are applied: every document of every file, each RFC 6902 patch applied to
// its target first (the target may be one of `baseObjects`, what Istio's install already put in the
// cluster, such as the istio-ingressgateway Service), Namespaces created as they are needed, then each
// object created, or replaced when it exists. The lab uses it to load each cluster's API server.
import { readFileSync } from 'node:fs';
import { KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { applyJsonPatch } from '../config/json-patch.js';
import { loadConfigPaths } from '../config/load.js';

export class ApplyFolderError extends Error {
  readonly code = 'E_KUBE_APPLY';
}

type Raw = KubernetesObject & Record<string, unknown>;

const ORDER = ['Namespace', 'ServiceAccount', 'Secret', 'ConfigMap', 'Service', 'Pod'];

function rank(kind: string): number {
  const i = ORDER.indexOf(kind);
  return i < 0 ? ORDER.length : i;
}

function keyOf(o: Raw): string {
  return `${o.kind}/${o.metadata?.namespace ?? 'default'}/${o.metadata?.name}`;
}

/** The raw documents of the files under `dir`, with the folder's JSON patches applied to their targets. */
export async function folderObjects(dir: string, baseObjects: readonly object[] = []): Promise<Raw[]> {
  const loaded = await loadConfigPaths([dir]);
  const errors = loaded.diagnostics.filter((d) => d.level === 'Error');
  if (errors.length > 0) throw new ApplyFolderError(`${dir} does not load: ${errors.map((d) => d.message).join('; ')}`);
  const objects = new Map<string, Raw>();
  for (const b of baseObjects) objects.set(keyOf(b as Raw), structuredClone(b) as Raw);
  const files = [...new Set(loaded.objects.map((o) => o.source.file))];
  for (const f of files) {
    for (const doc of parseAllDocuments(readFileSync(f, 'utf8'))) {
      const v = doc.toJS() as unknown;
      const items = v && typeof v === 'object' && (v as Raw).kind === 'List' ? ((v as { items?: Raw[] }).items ?? []) : [v as Raw];
      for (const o of items)
        if (o && typeof o === 'object' && typeof o.kind === 'string' && o.kind !== 'Kustomization') objects.set(keyOf(o), o);
    }
  }
  for (const p of loaded.patches) {
    if (!p.target) throw new ApplyFolderError(`the JSON patch in ${p.source.file} has no target (a kustomization beside it names one)`);
    const key = `${p.target.kind}/${p.target.namespace}/${p.target.name}`;
    const target = objects.get(key);
    if (!target) throw new ApplyFolderError(`the JSON patch in ${p.source.file} targets ${key}, which is neither in ${dir} nor installed`);
    objects.set(key, applyJsonPatch(target, p.ops));
  }
  return [...objects.values()].sort((a, b) => rank(a.kind!) - rank(b.kind!));
}

/** Creates or replaces each object on the kubeconfig's API server; Namespaces first, created when missing. */
export async function applyObjects(kubeconfigFile: string, objects: Raw[]): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigFile);
  const api = KubernetesObjectApi.makeApiClient(kc);
  const namespaces = new Set(objects.filter((o) => o.kind !== 'Namespace').map((o) => o.metadata?.namespace ?? 'default'));
  for (const o of objects) if (o.kind === 'Namespace') namespaces.delete(o.metadata!.name!);
  const all: Raw[] = [...[...namespaces].map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })), ...objects];
  for (const o of all) {
    const obj = { ...o, metadata: { ...o.metadata, ...(o.kind !== 'Namespace' ? { namespace: o.metadata?.namespace ?? 'default' } : {}) } };
    try {
      await api.create(obj);
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw new ApplyFolderError(`${keyOf(o)}: ${(err as Error).message}`, { cause: err });
      const cur = await api.read(obj as KubernetesObject & { metadata: { name: string; namespace: string } });
      await api.replace({ ...obj, metadata: { ...obj.metadata, resourceVersion: cur.metadata?.resourceVersion } });
    }
  }
}
