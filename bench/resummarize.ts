// Recomputes the table and `latest.json` from a raw results file (`bench/results/<run>.jsonl`), e.g. after
// a change to how samples are summarised. Usage: node dist/bench/resummarize.js RUN.jsonl [--write]
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { missingFigures, renderTable, summarize, type LatestResult, type SampleChain, type MachineInfo, type Sample } from './results.js';
import { figureSpecs, type BenchConfig } from './run-config.js';

interface RawLine {
  kind?: string;
  time?: string;
  config?: BenchConfig;
  machine?: MachineInfo;
  chain?: SampleChain;
  repeat?: number;
  load?: string;
  figures?: Record<string, number>;
}

export async function resummarize(file: string): Promise<{ latest: LatestResult; table: string; missing: string[] }> {
  const lines = (await readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as RawLine);
  const start = lines.find((l) => l.kind === 'start');
  if (!start?.config || !start.machine) throw new Error(`${file}: no start record with config and machine`);
  const samples: Sample[] = [];
  for (const l of lines) {
    if (l.kind !== 'sample' || !l.chain || l.repeat === undefined || !l.figures) continue;
    // Idle scale counts from the first repeat only (see run.ts).
    if (l.load === 'idle' && l.repeat > 0) continue;
    for (const [figure, value] of Object.entries(l.figures)) samples.push({ figure, chain: l.chain, repeat: l.repeat, value });
  }
  const specs = figureSpecs(start.config);
  const figures = summarize(specs, samples);
  const last = lines.filter((l) => l.kind === 'sample').at(-1);
  return {
    latest: { date: last?.time ?? new Date().toISOString(), machine: start.machine, quick: start.config.quick, figures },
    table: renderTable(specs, figures, samples),
    missing: missingFigures(specs, figures, start.config.chains, start.config.runtimes ?? ['node']),
  };
}

const [file, flag] = process.argv.slice(2);
if (file) {
  resummarize(file).then(
    async ({ latest, table, missing }) => {
      process.stdout.write(`${table}\n`);
      if (missing.length > 0) process.stdout.write(`missing figures: ${missing.join(', ')}\n`);
      if (flag === '--write') {
        const out = path.join(path.dirname(file), 'latest.json');
        await writeFile(out, `${JSON.stringify(latest, null, 2)}\n`);
        process.stdout.write(`wrote ${out}\n`);
      }
    },
    (err: unknown) => {
      process.stderr.write(`resummarize: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
