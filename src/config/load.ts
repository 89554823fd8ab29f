// Reading configuration files and folders: each file through loadConfigText (load-text.ts),
// directories walked recursively, and each folder's kustomization giving its patches their targets.
// Nothing here throws on bad input: every problem becomes a Diagnostic with file:line:column, and every
// good object in the same file or folder still loads.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { DiagnosticCodes, type Diagnostic } from './diagnostics.js';
import { parseKustomization, type KustomizePatchRef } from './kustomization.js';
import { dropDuplicates, fileDiag, loadConfigText, MAX_CONFIG_FILE_BYTES, type LoadedPatch, type LoadResult } from './load-text.js';
import type { SourceRef } from './types.js';

export { parseDuration } from './duration.js';
export {
  loadConfigText,
  MAX_CONFIG_FILE_BYTES,
  type LoadedObject,
  type LoadedPatch,
  type LoadResult,
  type PatchTarget,
} from './load-text.js';

export const CONFIG_EXTENSIONS = ['.yaml', '.yml', '.json'] as const;
export const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'] as const;

/** Every config file under `p` (or `p` itself), sorted, hidden entries skipped. */
async function listFiles(p: string, out: string[], diags: Diagnostic[], depth = 0): Promise<void> {
  let st;
  try {
    st = await stat(p);
  } catch (err) {
    diags.push({
      level: 'Error',
      code: DiagnosticCodes.UnreadableFile,
      file: p,
      message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    });
    return;
  }
  if (st.isFile()) {
    out.push(p);
    return;
  }
  if (!st.isDirectory() || depth > 32) return;
  const entries = (await readdir(p, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    if (e.name.startsWith('.') || e.name === 'node_modules') continue;
    const full = path.join(p, e.name);
    if (e.isDirectory()) await listFiles(full, out, diags, depth + 1);
    else if (CONFIG_EXTENSIONS.some((x) => e.name.toLowerCase().endsWith(x)) || e.name === 'Kustomization') {
      // A link to a regular file (a Kubernetes ConfigMap volume's `name -> ..data/name`) is read as that file.
      if (
        e.isFile() ||
        (e.isSymbolicLink() &&
          (await stat(full).then(
            (s) => s.isFile(),
            () => false,
          )))
      )
        out.push(full);
    }
  }
}

/** Reads one file from disk as loadConfigText would, refusing huge files before reading them. */
export async function loadConfigFile(file: string): Promise<LoadResult> {
  try {
    const st = await stat(file);
    if (st.size > MAX_CONFIG_FILE_BYTES) {
      return {
        objects: [],
        patches: [],
        diagnostics: [
          fileDiag(
            'Error',
            DiagnosticCodes.UnreadableFile,
            file,
            { line: 1, column: 1 },
            `file is ${st.size} bytes; the limit for a config file is ${MAX_CONFIG_FILE_BYTES} bytes`,
          ),
        ],
      };
    }
    const buf = await readFile(file);
    return loadConfigText(buf.toString('utf8'), file);
  } catch (err) {
    return {
      objects: [],
      patches: [],
      diagnostics: [
        {
          level: 'Error',
          code: DiagnosticCodes.UnreadableFile,
          file,
          message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        },
      ],
    };
  }
}

export function isKustomizationFile(file: string): boolean {
  return (KUSTOMIZATION_FILES as readonly string[]).includes(path.basename(file));
}

/**
 * Gives each untargeted patch loaded from `dir` the target its folder's kustomization names for it,
 * and adds the kustomization's inline patches. Returns the kustomization's own diagnostics.
 */
export function applyKustomization(
  refs: readonly KustomizePatchRef[],
  dir: string,
  patches: LoadedPatch[],
  kustomizationFile: string,
): Diagnostic[] {
  const diags: Diagnostic[] = [];
  for (const ref of refs) {
    if (ref.inline) {
      patches.push(ref.inline);
      continue;
    }
    if (!ref.path) continue;
    const abs = path.resolve(dir, ref.path);
    const matching = patches.filter((p) => path.resolve(p.source.file) === abs);
    if (matching.length === 0) {
      diags.push({
        level: 'Error',
        code: DiagnosticCodes.Kustomization,
        file: kustomizationFile,
        line: ref.position.line,
        column: ref.position.column,
        field: ref.field,
        message: `patch file "${ref.path}" holds no valid JSON patch (missing, or rejected above)`,
      });
      continue;
    }
    for (const p of matching) if (ref.target) p.target = ref.target;
  }
  return diags;
}

/** Loads files and directories (recursively): `.yaml`, `.yml`, `.json`, plus each folder's kustomization. */
export async function loadConfigPaths(paths: string[]): Promise<LoadResult> {
  const result: LoadResult = { objects: [], patches: [], diagnostics: [] };
  const files: string[] = [];
  for (const p of paths) await listFiles(p, files, result.diagnostics);
  const unique = [...new Set(files)];
  const kustomizations = new Map<string, string>(); // dir → kustomization file
  for (const f of unique) if (isKustomizationFile(f)) kustomizations.set(path.dirname(path.resolve(f)), f);
  // A kustomization beside an explicitly named patch file still names its target.
  for (const f of unique) {
    const dir = path.dirname(path.resolve(f));
    if (kustomizations.has(dir)) continue;
    for (const name of KUSTOMIZATION_FILES) {
      const candidate = path.join(path.dirname(f), name);
      try {
        if ((await stat(candidate)).isFile()) {
          kustomizations.set(dir, candidate);
          break;
        }
      } catch {
        // no kustomization of that name in the folder: the usual case.
      }
    }
  }
  const byDir = new Map<string, LoadedPatch[]>();
  for (const f of unique) {
    if (isKustomizationFile(f)) continue;
    const r = await loadConfigFile(f);
    result.objects.push(...r.objects);
    result.diagnostics.push(...r.diagnostics);
    result.patches.push(...r.patches);
    const dir = path.dirname(path.resolve(f));
    byDir.set(dir, [...(byDir.get(dir) ?? []), ...r.patches]);
  }
  for (const [dir, kfile] of kustomizations) {
    let text: string;
    try {
      text = await readFile(kfile, 'utf8');
    } catch (err) {
      result.diagnostics.push({
        level: 'Error',
        code: DiagnosticCodes.UnreadableFile,
        file: kfile,
        message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      });
      continue;
    }
    const k = parseKustomization(text, kfile);
    result.diagnostics.push(...k.diagnostics);
    const dirPatches = byDir.get(dir) ?? [];
    const before = dirPatches.length;
    result.diagnostics.push(...applyKustomization(k.patches, dir, dirPatches, kfile));
    result.patches.push(...dirPatches.slice(before));
  }
  const seen = new Map<string, SourceRef>();
  dropDuplicates(result, seen);
  return result;
}
