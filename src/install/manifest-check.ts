// A schema check of rendered install objects, for what `kubectl apply --dry-run=client --validate=false`
// does not look at: the kind is known for its apiVersion, required fields are present, names are
// DNS-1123, a pod's container ports are unique, a Deployment's selector matches its template's labels,
// a Service selects a Deployment's pods and targets a port they declare, mounts name volumes that exist,
// RBAC verbs are real verbs and bindings name roles and service accounts that are rendered too.
import type { K8sObject } from './manifests.js';

const KINDS: Record<string, { apiVersion: string; namespaced: boolean }> = {
  Namespace: { apiVersion: 'v1', namespaced: false },
  ServiceAccount: { apiVersion: 'v1', namespaced: true },
  Service: { apiVersion: 'v1', namespaced: true },
  ConfigMap: { apiVersion: 'v1', namespaced: true },
  Deployment: { apiVersion: 'apps/v1', namespaced: true },
  ClusterRole: { apiVersion: 'rbac.authorization.k8s.io/v1', namespaced: false },
  ClusterRoleBinding: { apiVersion: 'rbac.authorization.k8s.io/v1', namespaced: false },
  Role: { apiVersion: 'rbac.authorization.k8s.io/v1', namespaced: true },
  RoleBinding: { apiVersion: 'rbac.authorization.k8s.io/v1', namespaced: true },
  MutatingWebhookConfiguration: { apiVersion: 'admissionregistration.k8s.io/v1', namespaced: false },
};

/** Kubernetes' RBAC verbs (the API's resource verbs; `*` would not be least privilege). */
const RBAC_VERBS = new Set(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection']);
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const IANA_SVC_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

type Obj = Record<string, unknown>;
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);

function podSpecProblems(where: string, spec: Obj | undefined): string[] {
  if (!spec) return [`${where}: spec.template.spec is required`];
  const out: string[] = [];
  const containers = [...arr(spec.initContainers), ...arr(spec.containers)];
  if (arr(spec.containers).length === 0) out.push(`${where}: at least one container is required`);
  const volumes = new Set(arr(spec.volumes).map((v) => v.name as string));
  const ports = new Set<string>();
  const portNames = new Set<string>();
  for (const c of containers) {
    if (typeof c.name !== 'string' || !IANA_SVC_NAME.test(c.name))
      out.push(`${where}: container name ${JSON.stringify(c.name)} is not a DNS label`);
    if (typeof c.image !== 'string' || c.image === '') out.push(`${where}: container ${String(c.name)}: image is required`);
    for (const p of arr(c.ports)) {
      const key = `${String(p.containerPort)}/${String(p.protocol ?? 'TCP')}`;
      if (ports.has(key)) out.push(`${where}: container port ${key} is declared twice`);
      ports.add(key);
      if (p.name !== undefined) {
        const n = p.name as string;
        if (n.length > 15 || !IANA_SVC_NAME.test(n))
          out.push(`${where}: port name "${n}" is not an IANA service name (15 characters at most)`);
        if (portNames.has(n)) out.push(`${where}: port name "${n}" is declared twice`);
        portNames.add(n);
      }
    }
    for (const m of arr(c.volumeMounts))
      if (!volumes.has(m.name as string))
        out.push(`${where}: container ${String(c.name)} mounts volume "${String(m.name)}", which is not declared`);
  }
  return out;
}

function matches(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** Every problem found, as `Kind namespace/name: what` lines; empty when the set is consistent. */
export function checkManifests(objects: readonly K8sObject[]): string[] {
  const out: string[] = [];
  const has = (kind: string, name: string, ns?: string): boolean =>
    objects.some((o) => o.kind === kind && o.metadata.name === name && (ns === undefined || o.metadata.namespace === ns));
  const deployments = objects.filter((o) => o.kind === 'Deployment');
  const seen = new Set<string>();
  for (const o of objects) {
    const where = `${o.kind} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`;
    const known = KINDS[o.kind];
    if (!known) {
      out.push(`${where}: unknown kind`);
      continue;
    }
    if (o.apiVersion !== known.apiVersion) out.push(`${where}: apiVersion must be ${known.apiVersion}, got ${o.apiVersion}`);
    if (typeof o.metadata?.name !== 'string' || !DNS1123_SUBDOMAIN.test(o.metadata.name) || o.metadata.name.length > 253)
      out.push(`${where}: metadata.name is not a DNS-1123 subdomain`);
    if (known.namespaced !== (typeof o.metadata.namespace === 'string' && o.metadata.namespace !== ''))
      out.push(`${where}: metadata.namespace ${known.namespaced ? 'is required' : 'must be absent (cluster-scoped)'}`);
    const key = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    if (seen.has(key)) out.push(`${where}: rendered twice`);
    seen.add(key);
    const spec = o.spec as Obj | undefined;
    switch (o.kind) {
      case 'Deployment': {
        const sel = (spec?.selector as { matchLabels?: Record<string, string> } | undefined)?.matchLabels;
        const tmpl = spec?.template as { metadata?: { labels?: Record<string, string> }; spec?: Obj } | undefined;
        if (!sel || Object.keys(sel).length === 0) out.push(`${where}: spec.selector.matchLabels is required`);
        else if (!matches(sel, tmpl?.metadata?.labels)) out.push(`${where}: spec.selector does not match the pod template's labels`);
        out.push(...podSpecProblems(where, tmpl?.spec));
        const sa = tmpl?.spec?.serviceAccountName as string | undefined;
        if (sa && !has('ServiceAccount', sa, o.metadata.namespace)) out.push(`${where}: service account ${sa} is not rendered`);
        break;
      }
      case 'Service': {
        const selector = spec?.selector as Record<string, string> | undefined;
        const ports = arr(spec?.ports);
        if (ports.length === 0) out.push(`${where}: spec.ports is required`);
        const names = new Set<string>();
        const numbers = new Set<string>();
        for (const p of ports) {
          if (ports.length > 1 && typeof p.name !== 'string') out.push(`${where}: a Service with several ports must name each`);
          if (names.has(p.name as string)) out.push(`${where}: port name ${String(p.name)} twice`);
          if (numbers.has(`${String(p.port)}/${String(p.protocol ?? 'TCP')}`)) out.push(`${where}: port ${String(p.port)} twice`);
          names.add(p.name as string);
          numbers.add(`${String(p.port)}/${String(p.protocol ?? 'TCP')}`);
        }
        if (selector) {
          const pods = deployments.filter(
            (d) =>
              d.metadata.namespace === o.metadata.namespace &&
              matches(selector, ((d.spec as Obj).template as { metadata?: { labels?: Record<string, string> } }).metadata?.labels),
          );
          if (pods.length === 0) out.push(`${where}: the selector matches no rendered Deployment's pods`);
          for (const p of ports) {
            const target = p.targetPort ?? p.port;
            const declared = pods.some((d) =>
              arr(((d.spec as Obj).template as { spec: Obj }).spec.containers).some((c) =>
                arr(c.ports).some((cp) => cp.containerPort === target || cp.name === target),
              ),
            );
            if (pods.length > 0 && !declared) out.push(`${where}: targetPort ${String(target)} is not a port the selected pods declare`);
          }
        }
        break;
      }
      case 'ClusterRole':
      case 'Role':
        for (const r of arr(o.rules)) {
          for (const v of (r.verbs as string[] | undefined) ?? [])
            if (!RBAC_VERBS.has(v)) out.push(`${where}: verb "${v}" is not an RBAC verb (or not least privilege)`);
          if (!Array.isArray(r.apiGroups) || !Array.isArray(r.resources) || (r.resources as string[]).includes('*'))
            out.push(`${where}: each rule needs apiGroups and named resources`);
        }
        break;
      case 'ClusterRoleBinding':
      case 'RoleBinding': {
        const ref = o.roleRef as { kind?: string; name?: string; apiGroup?: string } | undefined;
        if (!ref || ref.apiGroup !== 'rbac.authorization.k8s.io' || !ref.kind || !ref.name)
          out.push(`${where}: roleRef needs apiGroup rbac.authorization.k8s.io, kind and name`);
        else if (!has(ref.kind, ref.name, ref.kind === 'Role' ? o.metadata.namespace : undefined))
          out.push(`${where}: roleRef ${ref.kind} ${ref.name} is not rendered`);
        for (const s of arr(o.subjects))
          if (s.kind === 'ServiceAccount' && !has('ServiceAccount', s.name as string, s.namespace as string))
            out.push(`${where}: subject ServiceAccount ${String(s.namespace)}/${String(s.name)} is not rendered`);
        break;
      }
      case 'MutatingWebhookConfiguration':
        for (const w of arr(o.webhooks)) {
          const name = String(w.name);
          if (!/\./.test(name)) out.push(`${where}: webhook name ${name} must be fully qualified`);
          if (!['None', 'NoneOnDryRun'].includes(w.sideEffects as string))
            out.push(`${where}: webhook ${name}: sideEffects must be None or NoneOnDryRun (v1)`);
          if (!Array.isArray(w.admissionReviewVersions) || !(w.admissionReviewVersions as string[]).includes('v1'))
            out.push(`${where}: webhook ${name}: admissionReviewVersions must include v1`);
          const svc = (w.clientConfig as { service?: { name: string; namespace: string; port?: number } } | undefined)?.service;
          if (!svc) out.push(`${where}: webhook ${name}: clientConfig.service is required`);
          else {
            const target = objects.find(
              (x) => x.kind === 'Service' && x.metadata.name === svc.name && x.metadata.namespace === svc.namespace,
            );
            if (!target) out.push(`${where}: webhook ${name}: Service ${svc.namespace}/${svc.name} is not rendered`);
            else if (!arr((target.spec as Obj).ports).some((p) => p.port === (svc.port ?? 443)))
              out.push(`${where}: webhook ${name}: Service ${svc.name} has no port ${svc.port ?? 443}`);
          }
        }
        break;
      case 'ConfigMap':
        if (!o.data || typeof o.data !== 'object') out.push(`${where}: data is required`);
        break;
      default:
        break;
    }
  }
  return out;
}
