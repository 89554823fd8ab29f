// The lab file (`lab.yaml`): which clusters exist, the Istio/Kubernetes YAML applied to each, the
// workloads (pods) in each, the DNS names workloads see, and the script that makes gateway credentials.
// Parsed at the edge with zod; errors name the file, line and field.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';

export class LabFileError extends Error {
  constructor(
    readonly code: 'E_LAB_FILE',
    message: string,
    readonly file: string,
    readonly line?: number,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'LabFileError';
  }
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const name = z.string().regex(dnsLabel, 'must be a lower-case DNS label (a-z, 0-9, "-")').max(40);
const port = z.number().int().min(1).max(65535);

const builtinRun = z.object({
  /**
   * mariadb-server: mariadbd with a throwaway datadir; postgres-embedded: PGlite's socket server;
   * database-server: MariaDB where installed, else the embedded PostgreSQL.
   */
  builtin: z.enum(['mariadb-server', 'postgres-embedded', 'database-server']),
});
const commandRun = z.object({
  /** argv; `{podIP}` and `{port}` (the first port) are replaced. */
  command: z.array(z.string()).min(1),
  env: z.record(z.string(), z.string()).optional(),
});

export const workloadSchema = z
  .object({
    name,
    namespace: name.default('default'),
    serviceAccount: name.optional(),
    labels: z.record(z.string(), z.string()).default({}),
    ports: z.array(port).default([]),
    sidecar: z.boolean().default(true),
    /** Absent: an idle pod (a client that `lab exec` or the benchmark drives, like `kubectl exec`). */
    run: z.union([builtinRun, commandRun]).optional(),
  })
  .strict();

export const clusterSchema = z
  .object({
    name,
    trustDomain: z.string().min(1).default('cluster.local'),
    /** Folders or files of Istio/Kubernetes YAML applied to this cluster, relative to the lab file. */
    config: z
      .union([z.string(), z.array(z.string())])
      .transform((v) => (Array.isArray(v) ? v : [v]))
      .default([]),
    /** Names of the Secrets (from the credentials script's output) that belong in this cluster. */
    secrets: z.array(z.string()).default([]),
    workloads: z.array(workloadSchema).default([]),
  })
  .strict();

export const dnsTargetSchema = z.union([
  z.object({ cluster: name, gateway: z.enum(['ingress', 'egress']) }).strict(),
  z.object({ cluster: name, workload: name }).strict(),
]);

export const labFileSchema = z
  .object({
    name: name.default('lab'),
    /** Where each control plane reads config: its cluster's folder, or an API-server double per cluster loaded with it. */
    configSource: z.enum(['directory', 'kubernetes']).default('directory'),
    /** The runtime every proxy runs under (`meshgate proxy --runtime`); absent: node. `lab up --proxy-runtime` overrides it. */
    proxyRuntime: z.enum(['node', 'bun']).optional(),
    clusters: z.array(clusterSchema).min(1),
    /** Names resolvable inside the lab, each pointing at a gateway's public address or a workload. */
    dns: z.record(z.string(), dnsTargetSchema).default({}),
    credentials: z
      .object({
        /** Run as `SCRIPT OUTDIR` with MESHGATE set to the meshgate command; writes Secret YAML into OUTDIR. */
        script: z.string(),
      })
      .strict()
      .optional(),
    /** The workload an unmodified client runs in, and what it connects to. */
    client: z
      .object({
        cluster: name,
        workload: name,
        target: z.string().regex(/^[^:]+:\d+$/, 'must be host:port'),
      })
      .strict()
      .optional(),
  })
  .strict();

export type LabWorkload = z.infer<typeof workloadSchema>;
export type LabCluster = z.infer<typeof clusterSchema>;
export type LabDnsTarget = z.infer<typeof dnsTargetSchema>;

export interface LabFile extends z.infer<typeof labFileSchema> {
  /** Absolute path of the lab file; relative paths in it resolve against its folder. */
  file: string;
  dir: string;
}

/** The line of the node at `fieldPath` in the parsed YAML document, for error messages. */
function lineOf(doc: ReturnType<typeof parseDocument>, counter: LineCounter, fieldPath: PropertyKey[]): number | undefined {
  let node: unknown = doc.contents;
  let lastRange: [number, number, number] | undefined = (node as YamlNode | null)?.range ?? undefined;
  for (const key of fieldPath) {
    if (isMap(node)) node = node.get(String(key), true);
    else if (isSeq(node)) node = node.get(Number(key), true);
    else break;
    const range = (node as YamlNode | undefined)?.range;
    if (range) lastRange = range;
  }
  return lastRange ? counter.linePos(lastRange[0]).line : undefined;
}

/** Reads `lab.yaml` from a file or a folder holding one; validates it and the references inside it. */
export function loadLabFile(fileOrDir: string): LabFile {
  let file = path.resolve(fileOrDir);
  try {
    if (statSync(file).isDirectory()) file = path.join(file, 'lab.yaml');
  } catch (err) {
    throw new LabFileError('E_LAB_FILE', `cannot read lab file ${file}: ${(err as Error).message}`, file);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new LabFileError('E_LAB_FILE', `cannot read lab file ${file}: ${(err as Error).message}`, file);
  }
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = counter.linePos(e.pos[0]).line;
    throw new LabFileError('E_LAB_FILE', `${file}:${line}: invalid YAML: ${e.message}`, file, line);
  }
  const parsed = labFileSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const line = lineOf(doc, counter, issue.path);
    const field = issue.path.map(String).join('.');
    throw new LabFileError('E_LAB_FILE', `${file}${line ? `:${line}` : ''}: ${field || '(root)'}: ${issue.message}`, file, line, field);
  }
  const lab: LabFile = { ...parsed.data, file, dir: path.dirname(file) };
  checkReferences(lab, doc, counter);
  return lab;
}

function checkReferences(lab: LabFile, doc: ReturnType<typeof parseDocument>, counter: LineCounter): void {
  const fail = (fieldPath: (string | number)[], message: string): never => {
    const line = lineOf(doc, counter, fieldPath);
    const field = fieldPath.join('.');
    throw new LabFileError('E_LAB_FILE', `${lab.file}${line ? `:${line}` : ''}: ${field}: ${message}`, lab.file, line, field);
  };
  const clusters = new Map<string, LabCluster>();
  lab.clusters.forEach((c, i) => {
    if (clusters.has(c.name)) fail(['clusters', i, 'name'], `cluster "${c.name}" is declared twice`);
    clusters.set(c.name, c);
    const pods = new Set<string>();
    c.workloads.forEach((w, j) => {
      const key = `${w.namespace}/${w.name}`;
      if (pods.has(key)) fail(['clusters', i, 'workloads', j, 'name'], `workload "${key}" is declared twice in cluster "${c.name}"`);
      pods.add(key);
      if (w.run && 'builtin' in w.run && w.ports.length === 0)
        fail(['clusters', i, 'workloads', j, 'ports'], `built-in "${w.run.builtin}" needs the port it serves on`);
    });
    c.config.forEach((p, j) => {
      try {
        statSync(path.resolve(lab.dir, p));
      } catch {
        // statSync's error only says "ENOENT"; the message below names the path the user wrote.
        fail(['clusters', i, 'config', j], `config path "${p}" does not exist (relative to ${lab.dir})`);
      }
    });
  });
  if (clusters.size > 250) fail(['clusters'], 'at most 250 clusters');
  for (const [host, target] of Object.entries(lab.dns)) {
    const c = clusters.get(target.cluster);
    if (!c) fail(['dns', host, 'cluster'], `no cluster named "${target.cluster}"`);
    if ('workload' in target && !c!.workloads.some((w) => w.name === target.workload))
      fail(['dns', host, 'workload'], `no workload "${target.workload}" in cluster "${target.cluster}"`);
  }
  if (lab.client) {
    const c = clusters.get(lab.client.cluster);
    if (!c) fail(['client', 'cluster'], `no cluster named "${lab.client.cluster}"`);
    if (!c!.workloads.some((w) => w.name === lab.client!.workload))
      fail(['client', 'workload'], `no workload "${lab.client.workload}" in cluster "${lab.client.cluster}"`);
  }
  if (lab.credentials) {
    try {
      statSync(path.resolve(lab.dir, lab.credentials.script));
    } catch {
      // As above: the message names the script path as written in the lab file.
      fail(['credentials', 'script'], `credentials script "${lab.credentials.script}" does not exist`);
    }
  }
}
