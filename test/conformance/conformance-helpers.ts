// Runs one conformance case: YAML in, the findings of validation (IST0106/IST0133) or of the analyzers
// out, as `Level [CODE] field: message` — positions are checked by the config and analyze tests.
import { analyzeSnapshot } from '../../src/analyze/index.js';
import { DEFAULT_INSTALL_FILE, defaultInstallObjects, defaultMeshConfig } from '../../src/config/default-install.js';
import { formatDiagnostic, type Diagnostic } from '../../src/config/diagnostics.js';
import { loadConfigText } from '../../src/config/load.js';
import { buildSnapshot } from '../../src/config/snapshot.js';

export interface ConformanceCase {
  /** Where the case comes from in istio/istio: file path and the test case (or testdata object) name. */
  source: string;
  yaml: string;
  /** Findings, `Level [CODE] field: message`; empty for a case Istio accepts. */
  expect: string[];
}

const short = (d: Diagnostic): string => `${d.level} [${d.code}]${d.field ? ` ${d.field}:` : ''} ${d.message}`;

/** What `meshgate validate` reports from Istio's validation rules. */
export function validationFindings(yaml: string): string[] {
  const r = loadConfigText(yaml, 'in.yaml');
  return r.diagnostics.filter((d) => d.code === 'IST0106' || d.code === 'IST0133').map(short);
}

/** What the analyzers named in `only` report over `yaml` plus Istio's default install. */
export function analyzerFindings(yaml: string, only: string[]): string[] {
  const mesh = defaultMeshConfig();
  const r = loadConfigText(yaml, 'in.yaml');
  if (r.diagnostics.some((d) => d.level === 'Error'))
    throw new Error(`case input does not load: ${r.diagnostics.map(formatDiagnostic).join('; ')}`);
  const install = defaultInstallObjects(mesh).map((object) => ({ object, source: { file: DEFAULT_INSTALL_FILE, line: 1, column: 1 } }));
  const snap = buildSnapshot([...r.objects, ...install], r.patches, mesh, 1).snapshot;
  return analyzeSnapshot(snap, { only }).map(short);
}

/** `apiVersion`/`kind`/`metadata` header for an Istio networking object. */
export function net(kind: string, name: string, spec: string, ns = 'default'): string {
  return `apiVersion: networking.istio.io/v1\nkind: ${kind}\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n${spec}`;
}

export function sec(kind: string, name: string, spec: string, ns = 'default'): string {
  return `apiVersion: security.istio.io/v1\nkind: ${kind}\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n${spec}`;
}
