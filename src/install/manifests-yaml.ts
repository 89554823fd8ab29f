// Install objects as one multi-document YAML stream, `kubectl apply -f` ready: a header saying how it
// was made, then one document per object in apply order. Stable for the same objects (manifests/ is
// compared byte for byte with a fresh rendering).
import { stringify } from 'yaml';
import type { K8sObject } from './manifests.js';

export function manifestsYaml(objects: readonly K8sObject[], header: string[]): string {
  const head = header.map((l) => `# ${l}`.trimEnd()).join('\n');
  // lineWidth 0: never fold long strings (a folded command argument reads as two to a person).
  return `${head}\n${objects.map((o) => `---\n${stringify(o, { lineWidth: 0 })}`).join('')}`;
}

export function manifestsJson(objects: readonly K8sObject[]): string {
  return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2)}\n`;
}
