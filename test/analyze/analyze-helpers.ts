// Runs the analyzers over inline YAML plus Istio's default install, as `meshgate analyze` does.
import { analyzeSnapshot } from '../../src/analyze/index.js';
import type { AnalyzeOptions } from '../../src/analyze/context.js';
import { DEFAULT_INSTALL_FILE, defaultInstallObjects, defaultMeshConfig } from '../../src/config/default-install.js';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { loadConfigText } from '../../src/config/load.js';
import { buildSnapshot } from '../../src/config/snapshot.js';

export function analyzeText(yaml: string, opts: AnalyzeOptions & { now?: Date } = {}): string[] {
  const mesh = defaultMeshConfig();
  const r = loadConfigText(yaml, 'in.yaml');
  if (r.diagnostics.some((d) => d.level === 'Error'))
    throw new Error(`test input does not load: ${r.diagnostics.map(formatDiagnostic).join('; ')}`);
  const install = defaultInstallObjects(mesh).map((object) => ({ object, source: { file: DEFAULT_INSTALL_FILE, line: 1, column: 1 } }));
  const snap = buildSnapshot([...r.objects, ...install], r.patches, mesh, 1).snapshot;
  return analyzeSnapshot(snap, opts).map(formatDiagnostic);
}
