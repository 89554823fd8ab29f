// `meshgate analyze -f PATH...`: validation plus Istio's cross-object analyzers (IST codes), run over
// the files and the objects Istio's default install puts in a cluster. Like `istioctl analyze`, the
// exit code is 79 when an Error-level message is found, and the same flags choose what is reported:
// --output-threshold, --suppress "CODE=Kind name.namespace", -n/--namespace, -A, -L/--list-analyzers.
import type { Command } from 'commander';
import { ANALYZERS, analyzePaths } from '../analyze/index.js';
import { atOrAbove, parseLevel, parseSuppression, selectMessages, type Suppression } from '../analyze/message-filter.js';
import { defaultMeshConfig } from '../config/default-install.js';
import { formatDiagnostic, hasErrors, type DiagnosticLevel } from '../config/diagnostics.js';
import { renderDiagnostics } from '../analyze/output.js';
import { CliUsageError, outputHelp, parseOutputFormat } from './output-format.js';

/** istioctl analyze's exit code when it finds Error-level messages. */
export const ANALYZE_ISSUES_EXIT_CODE = 79;

export const ANALYZE_FORMATS = ['short', 'json', 'yaml'] as const;
export type AnalyzeFormat = (typeof ANALYZE_FORMATS)[number];

export interface AnalyzeCliOptions {
  files: string[];
  output?: AnalyzeFormat;
  defaultInstall?: boolean;
  /** Lowest level printed (default Info); lower findings still count for the exit code, as istioctl. */
  outputThreshold?: DiagnosticLevel;
  suppress?: readonly Suppression[];
  /** Report findings on this namespace's objects only; absent (or allNamespaces) = every namespace. */
  namespace?: string;
  allNamespaces?: boolean;
}

export async function runAnalyze(opts: AnalyzeCliOptions, out: (s: string) => void): Promise<number> {
  const r = await analyzePaths(opts.files, { mesh: defaultMeshConfig(), defaultInstall: opts.defaultInstall !== false });
  const namespace = opts.allNamespaces ? undefined : opts.namespace;
  const selected = selectMessages(r.diagnostics, {
    ...(opts.suppress ? { suppress: opts.suppress } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
  });
  const shown = atOrAbove(selected, opts.outputThreshold ?? 'Info');
  const format = opts.output ?? 'short';
  if (format === 'short') {
    for (const d of shown) out(`${formatDiagnostic(d)}\n`);
    const scope = namespace !== undefined ? ` (namespace: ${namespace})` : '';
    if (selected.length === 0) out(`✔ No validation issues found when analyzing ${opts.files.join(', ')}${scope}.\n`);
  } else out(renderDiagnostics(shown, format));
  return hasErrors(selected) ? ANALYZE_ISSUES_EXIT_CODE : 0;
}

/** `--list-analyzers`: each analyzer's name and what it checks, as `istioctl analyze -L`. */
export function listAnalyzers(): string {
  return `Available analyzers:\n${ANALYZERS.map((a) => `\t* ${a.name}: ${a.description}\n`).join('')}`;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

export function registerAnalyzeCommand(program: Command): void {
  program
    .command('analyze')
    .description("Validate config files and cross-check the objects with Istio's analyzers (IST codes); exit 79 on errors, as istioctl.")
    .option('-f, --filename <path...>', 'files or directories to analyze (directories recursively: .yaml, .yml, .json)')
    .option('-o, --output <format>', outputHelp(ANALYZE_FORMATS), 'short')
    .option('--output-threshold <level>', 'the lowest level of finding printed: Info, Warning or Error', 'Info')
    .option('-S, --suppress <CODE=Kind name.namespace>', 'do not report CODE on that object ("*" matches anything); repeatable', collect)
    .option('-n, --namespace <namespace>', "report findings on this namespace's objects only (and those tied to no namespace)")
    .option('-A, --all-namespaces', 'report findings in every namespace (the default; overrides -n)')
    .option('-L, --list-analyzers', 'list the analyzers and what each checks, then exit')
    .option('--no-default-install', "do not add the objects Istio's default install creates (gateway Services, istio-system)")
    .action(
      async (o: {
        filename?: string[];
        output: string;
        outputThreshold: string;
        suppress?: string[];
        namespace?: string;
        allNamespaces?: boolean;
        listAnalyzers?: boolean;
        defaultInstall: boolean;
      }) => {
        if (o.listAnalyzers) {
          process.stdout.write(listAnalyzers());
          return;
        }
        const output = parseOutputFormat(o.output, ANALYZE_FORMATS, 'analyze');
        const outputThreshold = parseLevel(o.outputThreshold);
        const suppress = (o.suppress ?? []).map((s) => {
          const p = parseSuppression(s);
          // istioctl warns and carries on for a code it does not know.
          if (p.unknownCode)
            process.stderr.write(`Warning: --suppress code "${p.code}" is not an IST or MG code and will not have any effect.\n`);
          return p;
        });
        if (!o.filename || o.filename.length === 0) throw new CliUsageError("required option '-f, --filename <path...>' not specified");
        process.exitCode = await runAnalyze(
          {
            files: o.filename,
            output,
            outputThreshold,
            suppress,
            defaultInstall: o.defaultInstall,
            ...(o.namespace !== undefined ? { namespace: o.namespace } : {}),
            ...(o.allNamespaces ? { allNamespaces: true } : {}),
          },
          (s) => process.stdout.write(s),
        );
      },
    );
}
