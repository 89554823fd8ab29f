// `meshgate analyze -f PATH...`: validation plus Istio's cross-object analyzers (IST codes), run over
// the files and the objects Istio's default install puts in a cluster. Like `istioctl analyze`, the
// exit code is 79 when an Error-level message is found.
import type { Command } from 'commander';
import { analyzePaths } from '../analyze/index.js';
import { defaultMeshConfig } from '../config/default-install.js';
import { formatDiagnostic, hasErrors } from '../config/diagnostics.js';
import { renderDiagnostics, type OutputFormat } from '../analyze/output.js';
import { parseFormat } from './validate.js';

/** istioctl analyze's exit code when it finds Error-level messages. */
export const ANALYZE_ISSUES_EXIT_CODE = 79;

export interface AnalyzeCliOptions {
  files: string[];
  output?: OutputFormat;
  defaultInstall?: boolean;
}

export async function runAnalyze(opts: AnalyzeCliOptions, out: (s: string) => void): Promise<number> {
  const r = await analyzePaths(opts.files, { mesh: defaultMeshConfig(), defaultInstall: opts.defaultInstall !== false });
  const format = opts.output ?? 'human';
  if (format === 'human') {
    for (const d of r.diagnostics) out(`${formatDiagnostic(d)}\n`);
    if (r.diagnostics.length === 0) out(`✔ No validation issues found when analyzing ${opts.files.join(', ')}.\n`);
  } else out(renderDiagnostics(r.diagnostics, format));
  return hasErrors(r.diagnostics) ? ANALYZE_ISSUES_EXIT_CODE : 0;
}

export function registerAnalyzeCommand(program: Command): void {
  program
    .command('analyze')
    .description("Validate config files and cross-check the objects with Istio's analyzers (IST codes); exit 79 on errors, as istioctl.")
    .requiredOption('-f, --filename <path...>', 'files or directories to analyze (directories recursively: .yaml, .yml, .json)')
    .option('-o, --output <format>', 'output format: human, json or yaml', 'human')
    .option('--no-default-install', "do not add the objects Istio's default install creates (gateway Services, istio-system)")
    .action(async (o: { filename: string[]; output: string; defaultInstall: boolean }) => {
      process.exitCode = await runAnalyze({ files: o.filename, output: parseFormat(o.output), defaultInstall: o.defaultInstall }, (s) => process.stdout.write(s));
    });
}
