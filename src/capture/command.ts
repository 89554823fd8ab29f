// Running the netfilter tools (iptables, iptables-restore, iptables-save, nft, ip) as child processes,
// optionally inside a named network namespace (`ip netns exec NAME ...`), with a bounded run time.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

export interface CommandResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  /** Run inside this named network namespace (needs root and `ip`). */
  netns?: string;
  /** Written to the command's stdin. */
  input?: string;
  /** Killed after this long (default 30 s). */
  timeoutMs?: number;
}

export type CommandRunner = (file: string, args: string[], opts?: CommandOptions) => Promise<CommandResult>;

/** Runs a command and resolves with its exit status and output; rejects only when it cannot start. */
export const runCommand: CommandRunner = (file, args, opts = {}) => {
  const [cmd, argv] =
    opts.netns !== undefined ? [findExecutable('ip') ?? 'ip', ['netns', 'exec', opts.netns, file, ...args]] : [file, args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        status: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') + (signal ? `\n(killed by ${signal})` : ''),
      });
    });
    // EPIPE when the tool exits before reading its input is reported through its exit status.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
};

/** The absolute path of an executable on PATH or in the sbin folders (not always on a user's PATH). */
export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch (err) {
      // Not in this folder: keep looking.
      void err;
    }
  }
  return undefined;
}
