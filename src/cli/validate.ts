// `meshgate validate -f PATH...`: schema-checks Istio and Kubernetes config files (and applies their
// JSON patches) without the cross-object analyzers. Exit 1 when there is an error; warnings print.
import type { Command } from 'commander';
import { analyzePaths } from '../analyze/index.js';
import { defaultMeshConfig } from '../config/default-install.js';
import { formatDiagnostic, hasErrors } from '../config/diagnostics.js';
import { renderDiagnostics } from '../analyze/output.js';
import { outputHelp, parseOutputFormat } from './output-format.js';

export const VALIDATE_FORMATS = ['short', 'json', 'yaml'] as const;
export type ValidateFormat = (typeof VALIDATE_FORMATS)[number];

export interface ValidateOptions {
  files: string[];
  output?: ValidateFormat;
  defaultInstall?: boolean;
}

export async function runValidate(opts: ValidateOptions, out: (s: string) => void): Promise<number> {
  const r = await analyzePaths(opts.files, { mesh: defaultMeshConfig(), defaultInstall: opts.defaultInstall !== false, analyzers: false });
  const format = opts.output ?? 'short';
  if (format === 'short') {
    for (const d of r.diagnostics) out(`${formatDiagnostic(d)}\n`);
    const count = r.snapshot.sources.size;
    if (!hasErrors(r.diagnostics))
      out(
        `✔ ${opts.files.join(', ')}: valid (${count} object${count === 1 ? '' : 's'} including the default install${r.diagnostics.length ? `, ${r.diagnostics.length} warning(s)` : ''})\n`,
      );
  } else out(renderDiagnostics(r.diagnostics, format));
  return hasErrors(r.diagnostics) ? 1 : 0;
}

export function registerValidateCommand(program: Command): void {
  program
    .command('validate')
    .description('Check Istio and Kubernetes config files: schema, types, enums, duplicates and JSON patches (exit 1 on errors).')
    .requiredOption('-f, --filename <path...>', 'files or directories to validate (directories recursively: .yaml, .yml, .json)')
    .option('-o, --output <format>', outputHelp(VALIDATE_FORMATS), 'short')
    .option('--no-default-install', "do not add the objects Istio's default install creates (gateway Services, istio-system)")
    .action(async (o: { filename: string[]; output: string; defaultInstall: boolean }) => {
      const format = parseOutputFormat(o.output, VALIDATE_FORMATS, 'validate');
      process.exitCode = await runValidate({ files: o.filename, output: format, defaultInstall: o.defaultInstall }, (s) =>
        process.stdout.write(s),
      );
    });
}
