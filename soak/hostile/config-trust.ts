// Issue 14's attacks on configuration, kept in the soak so they stay fixed:
// - a nesting bomb (flow, block, compact, JSON, an object's spec, an alias chain): refused before or
//   right after parsing with MG0011 naming file:line, never a throw; written into a running control
//   plane's folder it is refused there too (its log names the file with MG0011) while the control plane
//   stays up and keeps serving what it served (control: the same shapes 20 levels deep load cleanly);
// - JSON patch paths with `__proto__`, `constructor` or `prototype`: refused with an error, the target
//   Service unchanged, no object's prototype touched; written into the running control plane's patch
//   file, nothing it serves changes (control: the example's own patch, one port more, applies).
import { readFileSync } from 'node:fs';
import { rm, writeFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { defaultInstallResult, defaultMeshConfig } from '../../src/config/default-install.js';
import { loadConfigPaths, loadConfigText, type LoadResult, type LoadedPatch } from '../../src/config/load.js';
import { ConfigStore } from '../../src/config/store.js';
import { objectKey, type JsonPatchOp } from '../../src/config/types.js';
import { DiagnosticCodes } from '../../src/config/diagnostics.js';
import { TypeUrl } from '../../src/envoy/envoy-types.js';
import { packageRoot } from '../../src/shared/package-root.js';
import { isAlive } from '../child.js';
import type { SoakReport } from '../results.js';
import { runFamily, sleep, type Verdict, type Variant } from './family.js';
import { controlPlaneReady, discoveryRequest, egressGatewayNode, openRawStream, type ControlPlaneTarget } from './controlplane.js';

const exampleDir = (): string => path.join(packageRoot(), 'examples', 'mysql-cross-cluster', 'cluster-a');

/** Nesting shapes, `depth` levels deep; [name, file extension, text]. */
export function nestingBombs(depth: number): [string, string, string][] {
  const flowSeq = `${'['.repeat(depth)}x${']'.repeat(depth)}`;
  // Each anchor wraps the one before in 25 levels: shallow text (25 per line), deep once parsed (5
  // anchors: about 125 levels); few aliases, or the parser's own alias-count guard refuses it for another reason.
  const nest = (inner: string): string => `${'['.repeat(25)}${inner}${']'.repeat(25)}`;
  const anchors = Array.from({ length: Math.min(Math.ceil(depth / 25), 5) }, (_, i) =>
    i === 0 ? `  a0: &a0 ${nest('1')}` : `  a${i}: &a${i} ${nest(`*a${i - 1}`)}`,
  );
  // Indentation grows the file quadratically: 2,000 levels stay under the 8 MiB file limit.
  const indented = Math.min(depth, 2000);
  return [
    ['flow sequences', 'yaml', `${flowSeq}\n`],
    ['flow mappings', 'yaml', `${'{a: '.repeat(depth)}x${'}'.repeat(depth)}\n`],
    ['compact block sequences', 'yaml', `${'- '.repeat(depth)}x\n`],
    ['indented block mappings', 'yaml', Array.from({ length: indented }, (_, i) => `${' '.repeat(i)}a:`).join('\n') + ' x\n'],
    ['JSON objects', 'json', `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}\n`],
    [
      "a ServiceEntry's spec",
      'yaml',
      `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: soak-bomb\n  namespace: default\nspec:\n  hosts: ${flowSeq}\n`,
    ],
    [
      'an alias chain (deep only once parsed)',
      'yaml',
      `apiVersion: v1\nkind: Service\nmetadata: {name: soak-alias}\nspec:\n${anchors.join('\n')}\n`,
    ],
    ['after a valid document', 'yaml', `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: soak\n---\n${flowSeq}\n`],
  ];
}

export const BOMB_DEPTH = 5000;

function bombRefused(file: string, text: string): Verdict {
  const t0 = Date.now();
  let r: LoadResult;
  try {
    r = loadConfigText(text, file);
  } catch (err) {
    return { ok: false, why: `the loader threw ${(err as Error).name}: ${(err as Error).message.slice(0, 120)}` };
  }
  const d = r.diagnostics.find((x) => x.code === DiagnosticCodes.NestingTooDeep && x.level === 'Error');
  if (!d) return { ok: false, why: `no ${DiagnosticCodes.NestingTooDeep} error: ${r.diagnostics.map((x) => x.code).join(', ') || 'none'}` };
  if (d.file !== file || !(d.line! >= 1))
    return { ok: false, why: `${DiagnosticCodes.NestingTooDeep} without file:line (${d.file}:${d.line})` };
  if (r.objects.some((o) => JSON.stringify(o.object).length > 100_000)) return { ok: false, why: 'the bomb became an object' };
  const ms = Date.now() - t0;
  return ms < 5000 ? { ok: true } : { ok: false, why: `took ${ms} ms` };
}

/** A running control plane given `file` = `text`: alive, ready, serving the same, and its log names the file with MG0011. */
async function liveRefusal(
  cp: ControlPlaneTarget,
  dump: () => Promise<string>,
  baseline: string,
  file: string,
  text: string,
  restore?: string,
): Promise<Verdict> {
  const target = path.join(cp.configDir, 'cluster-a', file);
  const tmp = path.join(cp.configDir, 'cluster-a', `.${file}.soak-tmp`);
  // Lines of the log refusing this file; a new one must appear (the same file may have been refused before).
  const refusals = (): number =>
    readFileSync(cp.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes(file) && /"level":"error"/.test(l)).length;
  const before = refusals();
  const logged = (): boolean => refusals() > before;
  await writeFile(tmp, text);
  await rename(tmp, target);
  try {
    for (let k = 0; k < 50 && !logged(); k++) await sleep(100);
    if (!isAlive(cp.proc)) return { ok: false, why: `the control plane died: ${cp.proc.output().slice(-300)}` };
    if (!(await controlPlaneReady(cp))) return { ok: false, why: 'the control plane stopped answering /ready' };
    if (!logged()) return { ok: false, why: `the control plane never reported ${file} as invalid within 5 s` };
    if ((await dump()) !== baseline) return { ok: false, why: `${file} changed what the egress gateway is served` };
    return { ok: true };
  } finally {
    if (restore !== undefined) {
      await writeFile(tmp, restore);
      await rename(tmp, target);
    } else {
      await rm(target, { force: true });
    }
    await sleep(300);
  }
}

const PROTO_OPS: [string, JsonPatchOp[]][] = [
  ['add /__proto__/polluted', [{ op: 'add', path: '/__proto__/polluted', value: 'yes' }]],
  ['add /spec/__proto__/polluted', [{ op: 'add', path: '/spec/__proto__/polluted', value: 'yes' }]],
  ['replace /constructor/prototype/polluted', [{ op: 'replace', path: '/constructor/prototype/polluted', value: 'yes' }]],
  ['add /spec/ports/0/constructor/prototype/polluted', [{ op: 'add', path: '/spec/ports/0/constructor/prototype/polluted', value: 'yes' }]],
  ['add /metadata/labels/__proto__', [{ op: 'add', path: '/metadata/labels/__proto__', value: { polluted: 'yes' } }]],
  ['copy from /__proto__', [{ op: 'copy', from: '/__proto__', path: '/spec/copied' }]],
  ['move /spec/ports to /__proto__/ports', [{ op: 'move', from: '/spec/ports', path: '/__proto__/ports' }]],
  ['test /constructor', [{ op: 'test', path: '/constructor', value: {} }]],
  ['remove /spec/prototype', [{ op: 'remove', path: '/spec/prototype' }]],
  [
    'a good op, then add /__proto__/polluted',
    [
      { op: 'add', path: '/spec/ports/-', value: { name: 'soak', protocol: 'TCP', port: 15999, targetPort: 15999 } },
      { op: 'add', path: '/__proto__/polluted', value: 'yes' },
    ],
  ],
];

function prototypesClean(): string | undefined {
  for (const [name, proto] of [
    ['Object', Object.prototype],
    ['Array', Array.prototype],
  ] as const)
    if (Object.getOwnPropertyNames(proto).some((k) => k === 'polluted' || k === 'ports' || k === 'copied'))
      return `${name}.prototype was written`;
  if (({} as { polluted?: unknown }).polluted !== undefined) return 'every object now has "polluted"';
  return undefined;
}

export async function runConfigTrustAttacks(
  report: SoakReport,
  cp: ControlPlaneTarget | undefined,
  rounds: number,
  log: (line: string) => void,
): Promise<void> {
  // A live control plane, when there is one: the egress gateway's dump is what must not move.
  let live: { dump: () => Promise<string>; baseline: string; close: () => void } | undefined;
  if (cp) {
    const gw = egressGatewayNode();
    const stream = openRawStream(cp, {
      token: await cp.tokens.mint({ namespace: gw.namespace, serviceAccount: gw.serviceAccount, ttlSeconds: 600 }),
    });
    stream.send(discoveryRequest(gw, TypeUrl.Cluster));
    if (await stream.nextResponse(10_000)) {
      const dump = async (): Promise<string> => {
        const r = await fetch(`http://${cp.httpAddress}/debug/config_dump?proxyID=${encodeURIComponent(gw.id)}`, {
          signal: AbortSignal.timeout(5000),
        });
        return JSON.stringify(((await r.json()) as { resources?: unknown }).resources);
      };
      live = { dump, baseline: await dump(), close: () => stream.close() };
    } else {
      stream.close();
      log('config trust: the egress gateway got no CDS response; the live variants are not run');
    }
  }
  try {
    // ---- nesting bombs
    const bombs: Variant[] = nestingBombs(BOMB_DEPTH).map(([what, ext, text]) => ({
      what: `${what}, ${BOMB_DEPTH} deep`,
      run: async () => bombRefused(`soak-bomb.${ext}`, text),
    }));
    if (cp && live) {
      const l = live;
      for (const [what, ext, text] of nestingBombs(BOMB_DEPTH).filter((_, i) => i === 0 || i === 4 || i === 6))
        bombs.push({
          what: `${what} written into the running control plane's folder`,
          run: () => liveRefusal(cp, l.dump, l.baseline, `soak-bomb-${Date.now().toString(36)}.${ext}`, text),
        });
    }
    await runFamily(report, log, 'config: nesting bomb', {
      control: {
        what: 'the same shapes 20 levels deep load without MG0011',
        run: async () => {
          for (const [what, ext, text] of nestingBombs(20)) {
            const r = loadConfigText(text, `soak-shallow.${ext}`);
            const d = r.diagnostics.find((x) => x.code === DiagnosticCodes.NestingTooDeep);
            if (d) return { ok: false, why: `${what} 20 deep: ${d.message}` };
          }
          return { ok: true };
        },
      },
      rounds,
      variants: bombs,
    });

    // ---- prototype keys in JSON patch paths
    const loaded = await loadConfigPaths([exampleDir()]);
    const real = loaded.patches[0];
    if (!real?.target) throw new Error('the example has no targeted JSON patch to start from');
    const mesh = defaultMeshConfig();
    const store = new ConfigStore(mesh, {
      onListenerError: (err) => {
        throw err;
      },
    });
    store.setSource('default-install', defaultInstallResult(mesh));
    const source = (ops: JsonPatchOp[]): LoadResult => ({
      objects: [],
      patches: [{ ...real, ops } satisfies LoadedPatch],
      diagnostics: [],
    });
    const key = `Service/${real.target.namespace}/${real.target.name}`;
    const service = (): string | undefined => {
      const s = store.snapshot().services.find((x) => objectKey(x) === key);
      return s ? JSON.stringify(s) : undefined;
    };
    const unpatched = service();
    store.setSource('patch', source(real.ops));
    const good = service();
    const patchFile = path.join(exampleDir(), 'egressgateway-service-patch.json');
    const patchText = readFileSync(patchFile, 'utf8');
    const variants: Variant[] = PROTO_OPS.map(([what, ops]) => ({
      what,
      run: async () => {
        const diags = store.setSource('patch', source(ops));
        const err = diags.find((d) => d.level === 'Error');
        let v: Verdict = { ok: true };
        if (!err) v = { ok: false, why: 'no error diagnostic' };
        else if (!/__proto__|constructor|prototype/.test(err.message)) v = { ok: false, why: `refused for another reason: ${err.message}` };
        else if (service() !== good) v = { ok: false, why: `${key} changed` };
        const polluted = prototypesClean();
        if (polluted) v = { ok: false, why: polluted };
        store.setSource('patch', source(real.ops));
        return v;
      },
    }));
    if (cp && live) {
      const l = live;
      for (const [what, ops] of PROTO_OPS.filter((_, i) => i === 0 || i === 9))
        variants.push({
          what: `${what} written into the running control plane's patch file`,
          run: () => liveRefusal(cp, l.dump, l.baseline, 'egressgateway-service-patch.json', JSON.stringify(ops, null, 2), patchText),
        });
    }
    await runFamily(report, log, 'config: prototype keys in JSON patch paths', {
      control: {
        what: "the example's own patch (one port more) applies",
        run: async () =>
          good !== undefined && good !== unpatched && good.includes('15443')
            ? { ok: true }
            : { ok: false, why: `the real patch did not change ${key}` },
      },
      rounds,
      variants,
    });
  } finally {
    live?.close();
  }
}
