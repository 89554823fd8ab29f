// Fuzzed configuration, property-based (fast-check, fixed seed so a failure can be replayed): mutations
// of the example's real files (YAML and the same objects as JSON), random text, Kubernetes-shaped objects
// with arbitrary specs, and RFC 6902 patches on the egress gateway Service. For every case the loader and
// the store must not throw; an edit with errors must leave the objects it names (or, when it cannot say
// which, every object of the file) exactly as they were; whatever is in force must still be valid and
// translate (the model) without throwing; and the original text must restore the original config.
// A sample of the invalid edits is then written into a running control plane's watched folder: it must
// stay alive and keep serving the same resources.
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { defaultInstallResult, defaultMeshConfig } from '../../src/config/default-install.js';
import { loadConfigPaths, loadConfigText, type LoadResult, type LoadedPatch } from '../../src/config/load.js';
import { ConfigStore } from '../../src/config/store.js';
import { objectKey, type ConfigObject, type ConfigSnapshot, type JsonPatchOp } from '../../src/config/types.js';
import { generateProxyResources } from '../../src/model/generate.js';
import { TypeUrl } from '../../src/envoy/envoy-types.js';
import { isAlive } from '../child.js';
import { packageRoot } from '../../src/shared/package-root.js';
import type { SoakReport } from '../results.js';
import {
  controlPlaneReady,
  discoveryRequest,
  egressGatewayNode,
  openRawStream,
  sidecarNode,
  type ControlPlaneTarget,
} from './controlplane.js';

export const FUZZ_SEED = 20261126;

const exampleDir = (): string => path.join(packageRoot(), 'examples', 'mysql-cross-cluster', 'cluster-a');

interface GoodFile {
  name: string;
  text: string;
}

function goodFiles(): GoodFile[] {
  return readdirSync(exampleDir())
    .filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('kustomization'))
    .sort()
    .map((f) => ({ name: f, text: readFileSync(path.join(exampleDir(), f), 'utf8') }));
}

function asJson(text: string): string {
  const docs = parseAllDocuments(text)
    .map((d) => d.toJS() as unknown)
    .filter((d) => d !== null);
  return JSON.stringify(docs.length === 1 ? docs[0] : { apiVersion: 'v1', kind: 'List', items: docs }, null, 2);
}

const SCALARS = [
  '0',
  '-1',
  '65536',
  '99999999999999999999',
  '1e309',
  'null',
  '~',
  '[]',
  '{}',
  '""',
  'true',
  '0x50',
  '.nan',
  '!!binary AAAA',
  '&a [*a]',
  '*undefined',
  "'",
  '"',
  '{',
  '- x',
  ': :',
  '\t',
  '\u0000',
  '\u202e',
  'ISTIO_MUTUAL',
  'MUTUAL',
  'DISABLE',
  '1h',
  '-5s',
  '300ms',
  'mysql.fqdn.example',
  '*',
  '*.',
  '../../etc/passwd',
  'A'.repeat(300),
];

/** One small edit of a real file: what a person or a broken pipeline does to YAML. */
function mutate(text: string, kind: number, at: number, ins: string, scalar: string): string {
  const lines = text.split('\n');
  const li = at % Math.max(1, lines.length);
  const line = lines[li] ?? '';
  switch (kind % 9) {
    case 0:
      return text.slice(0, at % text.length) + ins + text.slice((at % text.length) + 1);
    case 1:
      lines.splice(li, 1);
      return lines.join('\n');
    case 2:
      lines.splice(li, 0, line);
      return lines.join('\n');
    case 3:
      lines[li] = ` ${line}`;
      return lines.join('\n');
    case 4:
      lines[li] = line.replace(/^\s/, '');
      return lines.join('\n');
    case 5:
      return text.slice(0, at % text.length);
    case 6: {
      const c = line.indexOf(':');
      lines[li] = c >= 0 ? `${line.slice(0, c + 1)} ${scalar}` : `${line}${scalar}`;
      return lines.join('\n');
    }
    case 7: {
      const j = (li + 1 + (at % 3)) % lines.length;
      [lines[li], lines[j]] = [lines[j] ?? '', line];
      return lines.join('\n');
    }
    default:
      return `${text}\n---\n${ins}${scalar}\n`;
  }
}

interface FileCase {
  file: number;
  json: boolean;
  text: string;
}

function fileCases(files: GoodFile[]): fc.Arbitrary<FileCase> {
  const mutation = fc
    .record({
      file: fc.nat(files.length - 1),
      json: fc.boolean(),
      kind: fc.nat(8),
      at: fc.nat(5000),
      ins: fc.string({ maxLength: 4 }),
      scalar: fc.constantFrom(...SCALARS),
    })
    .map(({ file, json, kind, at, ins, scalar }) => {
      const base = json ? asJson(files[file]!.text) : files[file]!.text;
      return { file, json, text: mutate(base, kind, at, ins, scalar) };
    });
  const twice = fc
    .tuple(mutation, fc.nat(8), fc.nat(5000), fc.constantFrom(...SCALARS))
    .map(([c, kind, at, scalar]) => ({ ...c, text: mutate(c.text, kind, at, '', scalar) }));
  const random = fc.record({
    file: fc.nat(files.length - 1),
    json: fc.boolean(),
    text: fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.json({ maxDepth: 4 }),
      fc.anything({ maxDepth: 3 }).map((v) => {
        try {
          return (stringify(v) as string | undefined) ?? '';
        } catch {
          return String(v); // yaml cannot stringify some values (symbols, functions); their string form is still input
        }
      }),
      fc
        .record({
          apiVersion: fc.constantFrom('v1', 'networking.istio.io/v1alpha3', 'networking.istio.io/v1', 'security.istio.io/v1', 'x/y'),
          kind: fc.constantFrom(
            'ServiceEntry',
            'VirtualService',
            'DestinationRule',
            'Gateway',
            'Sidecar',
            'Service',
            'Secret',
            'PeerAuthentication',
            'AuthorizationPolicy',
            'List',
          ),
          metadata: fc.oneof(
            fc.record({
              name: fc.constantFrom('mysql-external', 'direct-mysql-through-egress-gateway', 'egressgateway-for-mysql', 'x'),
              namespace: fc.option(fc.constantFrom('default', 'istio-system', '')),
            }),
            fc.anything({ maxDepth: 2 }),
          ),
          spec: fc.anything({ maxDepth: 3 }),
        })
        .map((o) => stringify(o)),
    ),
  });
  return fc.oneof({ arbitrary: mutation, weight: 5 }, { arbitrary: twice, weight: 2 }, { arbitrary: random, weight: 3 });
}

const pointer = fc.oneof(
  fc.constantFrom(
    '',
    '/',
    '/spec',
    '/spec/ports',
    '/spec/ports/-',
    '/spec/ports/0',
    '/spec/ports/2',
    '/spec/ports/99',
    '/spec/ports/0/port',
    '/spec/ports/-/port',
    '/metadata',
    '/metadata/name',
    '/metadata/namespace',
    '/kind',
    '/apiVersion',
    '/spec/selector',
    '/spec/type',
    '/~1',
    '/spec/ports/0/name',
  ),
  fc
    .array(fc.string({ maxLength: 6 }), { maxLength: 4 })
    .map((a) => `/${a.map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`),
);
const portValue = fc.oneof(
  fc.record({
    name: fc.string({ maxLength: 8 }),
    port: fc.oneof(fc.integer({ min: -5, max: 70000 }), fc.string({ maxLength: 5 })),
    targetPort: fc.anything({ maxDepth: 1 }),
    protocol: fc.constantFrom('TCP', 'UDP', 'tcp', 'SCTP', ''),
  }),
  fc.anything({ maxDepth: 2 }),
);
const patchOp: fc.Arbitrary<JsonPatchOp> = fc.record({
  op: fc.constantFrom('add', 'remove', 'replace', 'move', 'copy', 'test', 'merge', ''),
  path: pointer,
  value: portValue,
  from: pointer,
}) as fc.Arbitrary<JsonPatchOp>;

function fingerprint(o: unknown): string {
  return JSON.stringify(o);
}

function inForce(s: ConfigSnapshot): Map<string, string> {
  const all: ConfigObject[] = [
    ...s.serviceEntries,
    ...s.virtualServices,
    ...s.destinationRules,
    ...s.gateways,
    ...s.sidecars,
    ...s.peerAuthentications,
    ...s.authorizationPolicies,
    ...s.services,
    ...s.secrets,
  ];
  return new Map(all.map((o) => [objectKey(o), fingerprint(o)]));
}

/** The objects in force must be ones the loader itself would accept. */
function revalidate(s: ConfigSnapshot): string | undefined {
  const objs: ConfigObject[] = [...s.serviceEntries, ...s.virtualServices, ...s.destinationRules, ...s.gateways, ...s.services];
  const r = loadConfigText(objs.map((o) => stringify(o)).join('---\n'), 'in-force.yaml');
  const err = r.diagnostics.find((d) => d.level === 'Error');
  return err ? `${err.object ?? ''} ${err.field ?? ''}: ${err.message}` : undefined;
}

function translate(s: ConfigSnapshot): void {
  generateProxyResources(s, sidecarNode());
  generateProxyResources(s, egressGatewayNode());
}

interface Outcome {
  ok: boolean;
  why?: string;
  invalid: boolean;
}

export interface FuzzResult {
  tried: number;
  handled: number;
  failures: string[];
  invalidSamples: FileCase[];
}

export function fuzzConfigFiles(cases: number, seed = FUZZ_SEED): FuzzResult {
  const files = goodFiles();
  const mesh = defaultMeshConfig();
  const store = new ConfigStore(mesh, {
    onListenerError: (err) => {
      throw err;
    },
  });
  store.setSource('default-install', defaultInstallResult(mesh));
  const originals = new Map<string, LoadResult>();
  for (const f of files) {
    const r = loadConfigText(f.text, f.name);
    originals.set(f.name, r);
    store.setSource(f.name, r);
  }
  const baseline = inForce(store.snapshot());
  const bad = revalidate(store.snapshot());
  if (bad) return { tried: 0, handled: 0, failures: [`the example config itself does not revalidate: ${bad}`], invalidSamples: [] };
  const samples = fc.sample(fileCases(files), { numRuns: cases, seed });
  const out: FuzzResult = { tried: 0, handled: 0, failures: [], invalidSamples: [] };
  for (const c of samples) {
    out.tried++;
    const file = files[c.file]!;
    const name = c.json ? file.name.replace(/\.ya?ml$/, '.json') : file.name;
    const o = oneFileCase(store, file, name, c.text, originals.get(file.name)!);
    // Restore: the original text must bring back exactly the original config.
    if (c.json) store.removeSource(name);
    store.setSource(file.name, originals.get(file.name)!);
    const restored = inForce(store.snapshot());
    const ok = o.ok && fingerprint([...restored]) === fingerprint([...baseline]);
    if (ok) out.handled++;
    else if (out.failures.length < 5)
      out.failures.push(
        `${o.why ?? 'restoring the original text did not restore the config'} — input ${JSON.stringify(c.text.slice(0, 200))} as ${name}`,
      );
    if (o.invalid && !c.json && out.invalidSamples.length < 500) out.invalidSamples.push(c);
  }
  return out;
}

function oneFileCase(store: ConfigStore, file: GoodFile, name: string, text: string, original: LoadResult): Outcome {
  const before = inForce(store.snapshot());
  let r: LoadResult;
  try {
    r = loadConfigText(text, name);
    // A JSON twin of a YAML file is a new source; the YAML one stays. Editing the file itself replaces it.
    store.setSource(name, r);
  } catch (err) {
    return { ok: false, invalid: true, why: `threw ${(err as Error).name}: ${(err as Error).message}` };
  }
  const errors = r.diagnostics.filter((d) => d.level === 'Error');
  const invalid = errors.length > 0;
  const after = inForce(store.snapshot());
  if (invalid && name === file.name) {
    const blind = errors.some((d) => d.object === undefined);
    const named = new Set(errors.map((d) => d.object).filter((k): k is string => k !== undefined));
    for (const lo of original.objects) {
      const key = objectKey(lo.object);
      if (!(blind || named.has(key))) continue;
      const validlyRedefined = r.objects.some((x) => objectKey(x.object) === key) && !named.has(key);
      if (!validlyRedefined && after.get(key) !== before.get(key))
        return { ok: false, invalid, why: `an invalid edit replaced ${key}: ${errors[0]!.message}` };
    }
  }
  if (fingerprint([...after]) !== fingerprint([...before])) {
    const bad = revalidate(store.snapshot());
    if (bad) return { ok: false, invalid, why: `an object in force no longer validates: ${bad}` };
    try {
      translate(store.snapshot());
    } catch (err) {
      return { ok: false, invalid, why: `the model threw on config the store accepted: ${(err as Error).message}` };
    }
  }
  return { ok: true, invalid: invalid && fingerprint([...after]) === fingerprint([...before]) };
}

export async function fuzzPatches(cases: number, seed = FUZZ_SEED): Promise<{ tried: number; handled: number; failures: string[] }> {
  const loaded = await loadConfigPaths([exampleDir()]);
  const real = loaded.patches[0];
  if (!real?.target) return { tried: 0, handled: 0, failures: ['the example has no targeted JSON patch to start from'] };
  const mesh = defaultMeshConfig();
  const store = new ConfigStore(mesh, {
    onListenerError: (err) => {
      throw err;
    },
  });
  store.setSource('default-install', defaultInstallResult(mesh));
  const patchSource = (ops: JsonPatchOp[]): LoadResult => ({
    objects: [],
    patches: [{ ...real, ops } satisfies LoadedPatch],
    diagnostics: [],
  });
  store.setSource('patch', patchSource(real.ops));
  const key = `Service/${real.target.namespace}/${real.target.name}`;
  const good = inForce(store.snapshot()).get(key);
  if (!good) return { tried: 0, handled: 0, failures: [`the patch target ${key} is not in the snapshot`] };
  const opsList = fc.sample(
    fc.oneof(
      fc.array(patchOp, { maxLength: 6 }),
      fc.tuple(fc.nat(real.ops.length), patchOp).map(([i, op]) => {
        const o = [...real.ops];
        o.splice(i, 0, op);
        return o;
      }),
    ),
    { numRuns: cases, seed },
  );
  const out = { tried: 0, handled: 0, failures: [] as string[] };
  for (const ops of opsList) {
    out.tried++;
    let why: string | undefined;
    try {
      const diags = store.setSource('patch', patchSource(ops));
      const svc = store.snapshot().services.find((s) => objectKey(s) === key);
      if (!svc) why = `the patch removed ${key}`;
      else if ((svc.spec.ports ?? []).some((p) => !Number.isInteger(p.port) || p.port < 1 || p.port > 65535))
        why = `a port out of range is in force: ${JSON.stringify(svc.spec.ports)}`;
      else if (diags.some((d) => d.level === 'Error') && inForce(store.snapshot()).get(key) !== good)
        why = `a patch that failed changed ${key}`;
      else {
        const bad = revalidate(store.snapshot());
        if (bad) why = `the patched Service no longer validates: ${bad}`;
        else translate(store.snapshot());
      }
      store.setSource('patch', patchSource(real.ops));
      if (!why && inForce(store.snapshot()).get(key) !== good) why = 'the original patch did not restore the Service';
    } catch (err) {
      why = `threw ${(err as Error).name}: ${(err as Error).message}`;
    }
    if (!why) out.handled++;
    else if (out.failures.length < 5) out.failures.push(`${why} — ops ${JSON.stringify(ops).slice(0, 300)}`);
  }
  return out;
}

/** Write + rename, as a careful operator (or kubectl) does: the watcher never reads half a file. */
async function replaceFile(file: string, text: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.soak-tmp`);
  await writeFile(tmp, text);
  await rename(tmp, file);
}

/** Invalid edits written into a running control plane's folder: it stays up and serves what it served. */
export async function fuzzLiveControlPlane(
  cp: ControlPlaneTarget,
  samples: FileCase[],
  count: number,
): Promise<{ tried: number; handled: number; failures: string[] }> {
  const files = goodFiles();
  const gw = egressGatewayNode();
  const token = await cp.tokens.mint({ namespace: gw.namespace, serviceAccount: gw.serviceAccount, ttlSeconds: 600 });
  const stream = openRawStream(cp, { token });
  const out = { tried: 0, handled: 0, failures: [] as string[] };
  try {
    stream.send(discoveryRequest(gw, TypeUrl.Cluster));
    if (!(await stream.nextResponse(10_000)))
      return { tried: 1, handled: 0, failures: ['the egress gateway got no CDS response from the control plane'] };
    const dump = async (): Promise<string> => {
      const r = await fetch(`http://${cp.httpAddress}/debug/config_dump?proxyID=${encodeURIComponent(gw.id)}`, {
        signal: AbortSignal.timeout(5000),
      });
      const j = (await r.json()) as { resources?: unknown };
      return JSON.stringify(j.resources ?? j);
    };
    const baseline = await dump();
    for (const c of samples.slice(0, count)) {
      out.tried++;
      const file = files[c.file]!;
      await replaceFile(path.join(cp.configDir, 'cluster-a', file.name), c.text);
      await new Promise((r) => setTimeout(r, 300));
      let why: string | undefined;
      if (!isAlive(cp.proc)) why = `the control plane died: ${cp.proc.output()}`;
      else if (!(await controlPlaneReady(cp))) why = 'the control plane stopped answering /ready';
      else if ((await dump()) !== baseline) why = `an invalid ${file.name} changed what the egress gateway is served`;
      await replaceFile(path.join(cp.configDir, 'cluster-a', file.name), file.text);
      if (why) {
        if (out.failures.length < 5) out.failures.push(`${why} — input ${JSON.stringify(c.text.slice(0, 200))}`);
        if (!isAlive(cp.proc)) break;
      } else {
        out.handled++;
      }
    }
    await new Promise((r) => setTimeout(r, 500));
    return out;
  } finally {
    stream.close();
  }
}

export async function runConfigFuzz(
  report: SoakReport,
  cp: ControlPlaneTarget | undefined,
  cases: number,
  liveCases: number,
  log: (line: string) => void,
): Promise<void> {
  const t0 = Date.now();
  const files = fuzzConfigFiles(cases);
  log(
    `config: fuzzed YAML/JSON files: ${files.handled}/${files.tried} in ${((Date.now() - t0) / 1000).toFixed(1)} s (seed ${FUZZ_SEED})${files.failures.length ? `; ${files.failures.join('; ')}` : ''}`,
  );
  report.badInput({ family: 'config: fuzzed YAML/JSON files', tried: files.tried, handled: files.handled });
  const t1 = Date.now();
  const patches = await fuzzPatches(cases);
  log(
    `config: fuzzed JSON patches: ${patches.handled}/${patches.tried} in ${((Date.now() - t1) / 1000).toFixed(1)} s${patches.failures.length ? `; ${patches.failures.join('; ')}` : ''}`,
  );
  report.badInput({ family: 'config: fuzzed JSON patches', tried: patches.tried, handled: patches.handled });
  if (cp) {
    const live = await fuzzLiveControlPlane(cp, files.invalidSamples, liveCases);
    if (live.failures.length) log(`config: invalid edits to a running control plane: ${live.failures.join('; ')}`);
    report.badInput({ family: 'config: invalid edits to a running control plane', tried: live.tried, handled: live.handled });
  }
}
