// Writing key material (CA keys, `meshgate ca` outputs, lab tokens and credentials): the content goes
// to a fresh temporary name in the target's own folder, opened with O_CREAT|O_EXCL|O_NOFOLLOW at mode
// 0600 (so it is never readable by others, not even for a moment, and a symlink planted at that name
// is refused rather than followed), then renamed over the target (which replaces a symlink planted
// there instead of writing through it, and means a reader sees the old file or the new one, never half).
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

export interface WritePrivateFileOptions {
  /** The file's mode: 0600 unless given (certificates and public keys may be 0644). */
  mode?: number;
  /** The temporary name's random part; tests pass their own to plant a symlink at it. */
  tempSuffix?: () => string;
}

export class PrivateFileError extends Error {
  readonly code = 'E_PRIVATE_FILE';
}

const ATTEMPTS = 8;
const FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Writes `content` to `file` as described above; the parent folder is created 0700 when missing. */
export function writePrivateFileSync(file: string, content: string | Uint8Array, opts: WritePrivateFileOptions = {}): void {
  const mode = opts.mode ?? 0o600;
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const suffix = opts.tempSuffix ?? (() => randomBytes(8).toString('hex'));
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const tmp = path.join(dir, `.${path.basename(file)}.${suffix()}.tmp`);
    let fd: number;
    try {
      fd = openSync(tmp, FLAGS, 0o600);
    } catch (err) {
      // Something already has that name (left over, or planted): never touch it, take another name.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' || (err as NodeJS.ErrnoException).code === 'ELOOP') continue;
      throw err;
    }
    let open = true;
    try {
      const data = typeof content === 'string' ? Buffer.from(content) : content;
      for (let off = 0; off < data.length;) off += writeSync(fd, data, off, data.length - off);
      fchmodSync(fd, mode); // exactly `mode`, whatever the umask
      fsyncSync(fd);
      open = false;
      closeSync(fd);
      renameSync(tmp, file);
    } catch (err) {
      if (open) closeSync(fd);
      try {
        unlinkSync(tmp);
      } catch {
        // the temporary file is ours; if it cannot be removed, the original error is the one to report.
      }
      throw err;
    }
    return;
  }
  throw new PrivateFileError(`cannot write ${file}: ${ATTEMPTS} temporary names beside it were already taken`);
}

/** The same, for async callers (key files are small; the write itself is synchronous). */
export async function writePrivateFile(file: string, content: string | Uint8Array, opts: WritePrivateFileOptions = {}): Promise<void> {
  writePrivateFileSync(file, content, opts);
}
