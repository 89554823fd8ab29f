// `meshgate proxy --run-as UID:GID`: the daemon pattern. The proxy starts as root, loads everything it
// reads from its own installation (modules, the SO_ORIGINAL_DST addon, Envoy's .proto files) and the
// files it reads once at start, then drops to the proxy's user (Istio's 1337) before it opens any socket.
// So the checkout may live where only root can read it (a 0700 home), and capture still exempts the
// proxy's own traffic: iptables' `--uid-owner` matches the owner of the socket, fixed when it is
// created, and every socket is created after the drop.
import { accessSync, constants } from 'node:fs';

export class RunAsError extends Error {
  readonly code = 'E_PROXY_RUN_AS';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RunAsError';
  }
}

export interface RunAs {
  uid: number;
  gid: number;
}

/** `1337:1337`, or `1337` for the same group id. */
export function parseRunAs(text: string): RunAs {
  const m = /^(\d+)(?::(\d+))?$/.exec(text.trim());
  if (!m) throw new RunAsError(`--run-as "${text}": expected UID:GID (numbers, e.g. 1337:1337)`);
  const uid = Number(m[1]);
  const gid = Number(m[2] ?? m[1]);
  if (uid > 0xfffffffe || gid > 0xfffffffe) throw new RunAsError(`--run-as "${text}": ids must be below 4294967295`);
  return { uid, gid };
}

/**
 * Becomes `to` for good: supplementary groups cleared, then gid, then uid (the uid last, since only
 * root may change the others). As root, setuid sets the real, effective and saved ids and the kernel
 * clears every capability, so there is no way back. Not root: only a no-op drop is allowed.
 */
export function dropPrivileges(to: RunAs): void {
  const uid = process.getuid?.();
  const gid = process.getgid?.();
  if (uid === undefined || gid === undefined || !process.setuid || !process.setgid || !process.setgroups) {
    throw new RunAsError(`--run-as needs a POSIX system (this is ${process.platform})`);
  }
  if (uid !== 0) {
    if (uid === to.uid && gid === to.gid) return;
    throw new RunAsError(`--run-as ${to.uid}:${to.gid} needs root to start with (running as uid ${uid}, gid ${gid})`);
  }
  try {
    process.setgroups([]);
    process.setgid(to.gid);
    process.setuid(to.uid);
  } catch (err) {
    throw new RunAsError(`cannot drop to uid ${to.uid}, gid ${to.gid}: ${(err as Error).message}`, { cause: err });
  }
  const now = { uid: process.getuid?.(), euid: process.geteuid?.(), gid: process.getgid?.(), egid: process.getegid?.() };
  if (now.uid !== to.uid || now.euid !== to.uid || now.gid !== to.gid || now.egid !== to.gid) {
    throw new RunAsError(
      `after dropping to ${to.uid}:${to.gid} the process runs as uid ${now.uid}/${now.euid}, gid ${now.gid}/${now.egid}`,
    );
  }
}

/**
 * After the drop: each file the proxy keeps re-reading (the workload token, rotated in place) must be
 * readable by the new user. Fails naming the first one that is not, and why.
 */
export function assertReadableAfterDrop(files: { path: string; what: string }[], to: RunAs): void {
  for (const f of files) {
    try {
      accessSync(f.path, constants.R_OK);
    } catch (err) {
      throw new RunAsError(
        `after dropping to uid ${to.uid}, gid ${to.gid} the proxy cannot read its ${f.what} ${f.path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); every folder above it must let that user through (o+x) and the file must be readable by it`,
        { cause: err },
      );
    }
  }
}
