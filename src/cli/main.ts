#!/usr/bin/env node
// The `meshgate` executable: one sub-command per file in this folder. Parsing and printing live here;
// the work lives in the modules each command calls. Only the invoked command's module is loaded: a
// proxy process (`meshgate proxy`) then carries the proxy's code and not the lab's, the control
// plane's or the CA toolkit's, which keeps its heap — and its garbage collections — small.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../shared/package-root.js';
import { currentRuntime, parseRuntime } from '../shared/runtime.js';
import { requestedRuntime, runUnder } from './runtime-exec.js';

type Register = (program: Command) => void;

/** Each top-level command and how to load the file that registers it. */
const COMMANDS: readonly { name: string; load: () => Promise<Register> }[] = [
  { name: 'capture', load: async () => (await import('./capture.js')).registerCaptureCommand },
  { name: 'validate', load: async () => (await import('./validate.js')).registerValidateCommand },
  { name: 'analyze', load: async () => (await import('./analyze.js')).registerAnalyzeCommand },
  { name: 'ca', load: async () => (await import('./ca.js')).registerCaCommands },
  { name: 'lab', load: async () => (await import('./lab.js')).registerLabCommands },
  { name: 'control-plane', load: async () => (await import('./control-plane.js')).registerControlPlaneCommand },
  { name: 'apiserver-double', load: async () => (await import('./apiserver-double.js')).registerApiServerDoubleCommand },
  { name: 'proxy-status', load: async () => (await import('./proxy-status.js')).registerProxyStatusCommand },
  { name: 'proxy', load: async () => (await import('./proxy.js')).registerProxyCommand },
  { name: 'install', load: async () => (await import('./install.js')).registerInstallCommand },
  { name: 'proxy-config', load: async () => (await import('./proxy-config.js')).registerProxyConfigCommand },
];

const pkg = JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string };

/**
 * The program with the command named in `argv` (process.argv form) registered, or with every command
 * when argv names none of them (help, a typo, no arguments).
 */
export async function buildProgram(argv: readonly string[] = process.argv): Promise<Command> {
  const program = new Command('meshgate')
    .description('An Istio-compatible L4 service mesh: control plane, proxy, capture, CA tooling and a local multi-cluster lab.')
    .version(pkg.version)
    .showHelpAfterError()
    .enablePositionalOptions();
  const named = COMMANDS.find((c) => c.name === argv[2]);
  for (const c of named ? [named] : COMMANDS) (await c.load())(program);
  return program;
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
/**
 * `meshgate proxy --runtime R` where R is not the runtime running this process: the command runs again
 * under R before the proxy's code is loaded, so the parent that stays (forwarding signals) holds only
 * the runtime itself. The child parses and checks every other argument.
 */
async function run(argv: string[]): Promise<void> {
  const wanted = argv[2] === 'proxy' ? requestedRuntime(argv.slice(3)) : undefined;
  if (wanted !== undefined && parseRuntime(wanted) !== currentRuntime()) {
    process.exitCode = await runUnder(parseRuntime(wanted), argv.slice(2));
    return;
  }
  await (await buildProgram(argv)).parseAsync(argv);
}

if (isMain || process.argv[1]?.endsWith('/meshgate')) {
  run(process.argv).catch((err: unknown) => {
    const e = err as { code?: string; message?: string };
    process.stderr.write(`meshgate: ${e.code ? `[${e.code}] ` : ''}${e.message ?? String(err)}\n`);
    process.exit(1);
  });
}
