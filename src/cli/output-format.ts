// One `-o/--output` vocabulary for every command that prints config or status, as istioctl's:
// `short` (a table, or one line per finding), `wide` (the table with more columns), `json`, `yaml`.
// Each command says which of them it supports; an unsupported value fails the same way everywhere.
import { stringify } from 'yaml';

export const OUTPUT_FORMATS = ['short', 'wide', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** A command line that cannot be acted on (bad flag value, missing argument); exit 1 with the message. */
export class CliUsageError extends Error {
  readonly code = 'E_CLI_USAGE';
}

/** The help text of `-o`: the formats a command supports. */
export function outputHelp(allowed: readonly OutputFormat[]): string {
  return `output format: ${allowed.join(', ')}`;
}

/** `value` as one of `allowed`, or the one error every command gives for an unsupported format. */
export function parseOutputFormat<F extends OutputFormat>(value: string, allowed: readonly F[], command: string): F {
  if ((allowed as readonly string[]).includes(value)) return value as F;
  const known = (OUTPUT_FORMATS as readonly string[]).includes(value);
  throw new CliUsageError(
    `${known ? 'unsupported' : 'unknown'} output format "${value}" for "meshgate ${command}": use one of ${allowed.join(', ')}`,
  );
}

/** A value printed as JSON (two-space indent) or YAML, each ending with a newline. */
export function renderStructured(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : stringify(value);
}
