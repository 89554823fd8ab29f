// The parts of a Kubernetes Pod (core/v1) the injector reads and writes. Everything else in the object
// is carried through untouched: the patch is the difference between the Pod as received and as injected.

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [k: string]: unknown;
}

export interface ContainerPort {
  containerPort: number;
  name?: string;
  protocol?: string;
  [k: string]: unknown;
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: unknown[];
  ports?: ContainerPort[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext?: Record<string, unknown>;
  [k: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: ({ name: string } & Record<string, unknown>)[];
  serviceAccountName?: string;
  hostNetwork?: boolean;
  [k: string]: unknown;
}

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: PodSpec;
  [k: string]: unknown;
}

/** A Pod parsed at the edge: an object with metadata and a spec holding a list of named containers. */
export function asPod(v: unknown): Pod | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  const spec = o.spec as Record<string, unknown> | undefined;
  if (!spec || typeof spec !== 'object' || !Array.isArray(spec.containers)) return undefined;
  if (spec.containers.some((c) => !c || typeof c !== 'object' || typeof (c as { name?: unknown }).name !== 'string')) return undefined;
  if (o.metadata !== undefined && (typeof o.metadata !== 'object' || o.metadata === null)) return undefined;
  return { ...o, metadata: (o.metadata as ObjectMeta | undefined) ?? {}, spec: spec as unknown as PodSpec };
}
