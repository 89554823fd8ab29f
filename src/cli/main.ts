#!/usr/bin/env node
// The `meshgate` executable: one sub-command per file in this folder. Parsing and printing live here;
// the work lives in the modules each command calls.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { registerCaptureCommand } from './capture.js';
import { registerValidateCommand } from './validate.js';
import { registerAnalyzeCommand } from './analyze.js';
import { registerCaCommands } from './ca.js';
import { registerLabCommands } from './lab.js';
import { registerControlPlaneCommand } from './control-plane.js';
import { registerProxyStatusCommand } from './proxy-status.js';
import { registerProxyCommand } from './proxy.js';
import { registerProxyConfigCommand } from './proxy-config.js';

import path from 'node:path';
import { packageRoot } from '../capture/repo-root.js';

const pkg = JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('meshgate')
    .description('An Istio-compatible L4 service mesh: control plane, proxy, capture, CA tooling and a local multi-cluster lab.')
    .version(pkg.version)
    .showHelpAfterError()
    .enablePositionalOptions();
  // Sub-commands register themselves here, one file each.
  registerCaptureCommand(program);
  registerValidateCommand(program);
  registerAnalyzeCommand(program);
  registerCaCommands(program);
  registerLabCommands(program);
  registerControlPlaneCommand(program);
  registerProxyStatusCommand(program);
  registerProxyCommand(program);
  registerProxyConfigCommand(program);
  return program;
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain || process.argv[1]?.endsWith('/meshgate')) {
  buildProgram().parseAsync(process.argv).catch((err: unknown) => {
    const e = err as { code?: string; message?: string };
    process.stderr.write(`meshgate: ${e.code ? `[${e.code}] ` : ''}${e.message ?? String(err)}\n`);
    process.exit(1);
  });
}
