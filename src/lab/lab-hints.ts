// What `lab up` tells a person to run next, so that it works on the machine it ran on: `meshgate`
// spelled the way this machine can run it, and, when the lab fell back to loopback mode or to the
// embedded PostgreSQL, what to install for the full lab.
import { statSync } from 'node:fs';
import path from 'node:path';
import { findExecutable } from '../capture/command.js';
import type { LabSummary } from './lab.js';
import { packageRoot } from '../shared/package-root.js';
import { mariaDbAvailable } from './mariadb.js';

/** The Debian packages the full lab uses: netns mode (ip, iptables), MariaDB and its client, lab verify's wire check. */
export const FULL_LAB_PACKAGES = ['mariadb-server', 'mariadb-client', 'iptables', 'iproute2', 'tcpdump'] as const;

/**
 * `meshgate` where it is on PATH (npm link, a global install); else `npx meshgate` from inside a
 * checkout this user owns (npm exec links the root package into its cache and marks its bin
 * executable, which only the owner may do); else node and the compiled CLI's full path.
 */
export function meshgateInvocation(cwd = process.cwd()): string {
  const root = packageRoot();
  const main = path.join(root, 'dist', 'src', 'cli', 'main.js');
  if (findExecutable('meshgate') !== undefined) return 'meshgate';
  const rel = path.relative(root, cwd);
  const inside = rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
  const uid = process.getuid?.();
  let owner: number | undefined;
  try {
    owner = statSync(main).uid;
  } catch {
    // Not built: the full path below at least names what is missing.
    owner = undefined;
  }
  if (inside && (uid === 0 || (owner !== undefined && owner === uid))) return 'npx meshgate';
  return `node ${main}`;
}

/** One line naming what this lab fell back from and what to install for the full one; undefined when it is the full one. */
export function fullLabHint(s: Pick<LabSummary, 'mode' | 'modeReason' | 'workloads'>): string | undefined {
  const reasons: string[] = [];
  if (s.mode === 'loopback' && s.modeReason !== undefined && s.modeReason !== 'requested') reasons.push(`loopback mode (${s.modeReason})`);
  const mariadb = mariaDbAvailable();
  if (s.workloads.some((w) => w.database === 'postgres-embedded') && !mariadb.ok)
    reasons.push(`the embedded PostgreSQL (MariaDB ${mariadb.reason ?? 'missing'})`);
  if (reasons.length === 0) return undefined;
  return `this lab runs ${reasons.join(' and ')}. For the full lab (a network namespace per pod, iptables capture, MariaDB): as root, apt-get install ${FULL_LAB_PACKAGES.join(' ')}, then npm start`;
}
