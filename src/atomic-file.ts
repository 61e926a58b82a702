// Crash-safe, symlink-safe small files: the data-dir pidfile and the supervisor's journal are replaced
// atomically through a fresh temporary file, and read with a size cap (docs/operations.md, "Security model").

import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Replaces `path` with `data` so that a crash at any instant leaves either the old content or the new, never
 * a torn file, and so that no path an attacker planted is ever written through: the temporary file gets a
 * random name and is created with O_CREAT|O_EXCL|O_NOFOLLOW (a symlink or any existing file there fails the
 * open instead of being followed or truncated), fsynced, renamed over `path` (rename replaces a symlink at
 * `path` itself, never its target), and the directory fsynced. The temporary file is removed on any error.
 * Errors are the raw Node system errors.
 *
 * `durable: false` skips both fsyncs, for a file that only describes live processes (the pidfile): readers
 * still never see a torn file, and after a power loss, which such a file could survive empty or missing,
 * nothing it named is alive. Two fsyncs fewer matter where a handoff waits for the write.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = 0o600,
  { durable = true }: { readonly durable?: boolean } = {},
): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomHex(6)}.tmp`);
  const file = await open(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    mode,
  );
  try {
    try {
      await file.writeFile(data);
      // Data must be on disk before the rename makes it visible, or a crash could expose an empty file.
      if (durable) await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await unlink(tmp).catch(() => {});
    throw error;
  }
  if (!durable) return;
  // The rename itself lives in the directory: without this fsync a crash could forget it.
  const dirHandle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}

/**
 * `bytes` random bytes from the kernel's CSPRNG, as hex: a temporary file's name. Read from /dev/urandom
 * rather than through `node:crypto`, which nothing else in the library needs and whose loading added ~9 ms
 * to every daemon's start (measured; docs/operations.md, "Start-up cost"). The name's safety does not
 * rest on it (O_EXCL|O_NOFOLLOW does); without /dev/urandom (a bare chroot) Math.random names it instead.
 */
function randomHex(bytes: number): string {
  const buffer = Buffer.alloc(bytes);
  try {
    const fd = openSync('/dev/urandom', constants.O_RDONLY);
    try {
      readSync(fd, buffer, 0, bytes, null);
    } finally {
      closeSync(fd);
    }
  } catch {
    for (let i = 0; i < bytes; i++) buffer[i] = Math.floor(Math.random() * 256);
  }
  return buffer.toString('hex');
}

/** A file that is not a regular file, or larger than the cap: refused without reading it. */
export class UnsafeFileError extends Error {
  override name = 'UnsafeFileError';
}

/**
 * Reads at most `maxBytes` of the regular file at `path`, following no symlink at the last component and
 * never blocking on a FIFO or device. Throws `UnsafeFileError` for anything but a regular file, or one
 * larger than `maxBytes`; a missing file is the raw ENOENT error.
 */
export async function readBoundedFile(path: string, maxBytes: number): Promise<Buffer> {
  const file = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const stat = await file.stat();
    if (!stat.isFile()) throw new UnsafeFileError(`${path} is not a regular file`);
    if (stat.size > maxBytes) {
      throw new UnsafeFileError(`${path} is ${stat.size} bytes; at most ${maxBytes} are read`);
    }
    // Read one byte past the cap: a file that grew since fstat is refused too.
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await file.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw new UnsafeFileError(`${path} is over ${maxBytes} bytes`);
    }
    return buffer.subarray(0, length);
  } finally {
    await file.close();
  }
}

/**
 * `readBoundedFile`, synchronously (for start-up paths such as loading the config). With `followSymlinks`,
 * a symlink at `path` is followed (an operator's config often is one); what it leads to is checked the same.
 */
export function readBoundedFileSync(path: string, maxBytes: number, followSymlinks = false): Buffer {
  const nofollow = followSymlinks ? 0 : constants.O_NOFOLLOW;
  const fd = openSync(path, constants.O_RDONLY | nofollow | constants.O_NONBLOCK);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new UnsafeFileError(`${path} is not a regular file`);
    if (stat.size > maxBytes)
      throw new UnsafeFileError(`${path} is ${stat.size} bytes; at most ${maxBytes} are read`);
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const bytesRead = readSync(fd, buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw new UnsafeFileError(`${path} is over ${maxBytes} bytes`);
    }
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}
