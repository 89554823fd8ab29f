// Runs every analyzer over a snapshot, as `istioctl analyze` does, and loads files for it: the files
// given plus (by default) what Istio's installation puts in every cluster, since Istio's analyze runs
// against a live cluster that has those objects.
import { sortDiagnostics, type Diagnostic } from '../config/diagnostics.js';
import { defaultInstallObjects, DEFAULT_INSTALL_FILE } from '../config/default-install.js';
import { loadConfigPaths, type LoadedObject } from '../config/load.js';
import { buildSnapshot } from '../config/snapshot.js';
import type { ConfigSnapshot, MeshConfig } from '../config/types.js';
import type { AnalyzeOptions } from './context.js';
import * as destinationRuleCaCertificates from './destinationrule-ca-certificates.js';
import * as authorizationPolicyWorkloads from './authorizationpolicy-workloads.js';
import * as destinationRuleSubsets from './destinationrule-subsets.js';
import * as gatewayConflicts from './gateway-conflicts.js';
import * as gatewayPorts from './gateway-ports.js';
import * as gatewaySecrets from './gateway-secrets.js';
import * as serviceEntryAddresses from './serviceentry-addresses.js';
import * as servicePortNames from './service-port-names.js';
import * as tlsModeMismatch from './tls-mode-mismatch.js';
import * as virtualServiceConflictingHosts from './virtualservice-conflicting-hosts.js';
import * as virtualServiceDestinationHosts from './virtualservice-destination-hosts.js';
import * as virtualServiceDestinationSubsets from './virtualservice-destination-subsets.js';
import * as virtualServiceGateways from './virtualservice-gateways.js';
import * as virtualServiceUnreachableRules from './virtualservice-unreachable-rules.js';

export type { AnalyzeOptions } from './context.js';

export interface Analyzer {
  name: string;
  /** One line for `analyze --list-analyzers`: what it checks and its codes. */
  description: string;
  analyze(snap: ConfigSnapshot, opts?: AnalyzeOptions): Diagnostic[];
}

export const ANALYZERS: readonly Analyzer[] = [
  virtualServiceGateways,
  virtualServiceDestinationSubsets,
  virtualServiceDestinationHosts,
  virtualServiceConflictingHosts,
  gatewayPorts,
  gatewaySecrets,
  gatewayConflicts,
  destinationRuleCaCertificates,
  destinationRuleSubsets,
  serviceEntryAddresses,
  tlsModeMismatch,
  virtualServiceUnreachableRules,
  authorizationPolicyWorkloads,
  servicePortNames,
];

/** Every analyzer (or those in `opts.only`) over one snapshot. */
export function analyzeSnapshot(snap: ConfigSnapshot, opts?: AnalyzeOptions): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const a of ANALYZERS) {
    if (opts?.only && !opts.only.includes(a.name)) continue;
    out.push(...a.analyze(snap, opts));
  }
  // Objects of the default install are Istio's, not the user's: report only on the user's files.
  return sortDiagnostics(out.filter((d) => d.file !== DEFAULT_INSTALL_FILE));
}

export interface AnalyzePathsOptions extends AnalyzeOptions {
  mesh: MeshConfig;
  /** Add the objects Istio's default install creates (on by default). */
  defaultInstall?: boolean;
  /** Run the cross-object analyzers (on by default; `validate` turns them off). */
  analyzers?: boolean;
}

export interface AnalyzePathsResult {
  snapshot: ConfigSnapshot;
  diagnostics: Diagnostic[];
}

/** Loads `paths`, builds a snapshot (with the default install unless told otherwise) and analyzes it. */
export async function analyzePaths(paths: string[], opts: AnalyzePathsOptions): Promise<AnalyzePathsResult> {
  const loaded = await loadConfigPaths(paths);
  const base: LoadedObject[] =
    opts.defaultInstall === false
      ? []
      : defaultInstallObjects(opts.mesh).map((object) => ({ object, source: { file: DEFAULT_INSTALL_FILE, line: 1, column: 1 } }));
  // A user's own object of the same Kind/namespace/name (a customised gateway Service) replaces the
  // installed one, as `kubectl apply` over an installation would.
  const userKeys = new Set(loaded.objects.map((o) => `${o.object.kind}/${o.object.metadata.namespace}/${o.object.metadata.name}`));
  const objects = [
    ...loaded.objects,
    ...base.filter((b) => !userKeys.has(`${b.object.kind}/${b.object.metadata.namespace}/${b.object.metadata.name}`)),
  ];
  const built = buildSnapshot(objects, loaded.patches, opts.mesh, 1);
  const diagnostics = [...loaded.diagnostics, ...built.diagnostics];
  if (opts.analyzers !== false) diagnostics.push(...analyzeSnapshot(built.snapshot, opts));
  return { snapshot: built.snapshot, diagnostics: sortDiagnostics(diagnostics) };
}
