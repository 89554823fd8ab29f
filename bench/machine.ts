// The machine and the versions a run measured, recorded with every result.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nofileLimits } from './limits.js';
import type { MachineInfo } from './results.js';
import { bunBinary, bunUnavailableReason } from '../src/shared/runtime.js';

function firstLine(cmd: string, args: string[]): string {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 });
    return out.split('\n')[0]!.trim();
  } catch {
    return 'not installed'; // the version table says so; the load that needs it reports its own error
  }
}

export function describeMachine(repoRoot: string): MachineInfo {
  let meshgate = 'unknown';
  try {
    meshgate = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
    meshgate += ` (${execFileSync('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()})`;
  } catch {
    // not a git checkout: the package version alone identifies the build
  }
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryMb: Math.round(os.totalmem() / 2 ** 20),
    kernel: os.release(),
    platform: `${os.platform()} ${os.arch()}`,
    nofileLimit: nofileLimits().hard,
    versions: {
      meshgate,
      node: process.version,
      openssl: process.versions.openssl ?? 'unknown',
      bun: bunUnavailableReason(repoRoot) === undefined ? firstLine(bunBinary(repoRoot), ['--version']) : 'not installed',
      haproxy: firstLine('haproxy', ['-v']),
      sysbench: firstLine('sysbench', ['--version']),
      iperf3: firstLine('iperf3', ['--version']),
      mariadb: firstLine('mariadbd', ['--version']),
    },
  };
}
