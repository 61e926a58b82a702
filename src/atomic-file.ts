// Crash-safe small-file replacement: write a temporary file, fsync it, rename it over the target, fsync the
// directory. Used for the data-dir pidfile (SPEC §6) and meant for the supervisor journal (SPEC §5.1).

import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Replaces `path` with `data` so that a crash at any instant leaves either the old content or the new, never a
 * torn file. The temporary file is `<path>.tmp`, in the same directory (rename is atomic only within one
 * filesystem); callers serialise their own writes to one path, so one fixed temporary name is enough and a crash
 * leaves at most one stale temporary, overwritten by the next write. Errors are the raw Node system errors.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  const tmp = `${path}.tmp`;
  const file = await open(tmp, 'w', mode);
  try {
    await file.writeFile(data);
    // Data must be on disk before the rename makes it visible, or a crash could expose an empty file.
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, path);
  // The rename itself lives in the directory: without this fsync a crash could forget it.
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}
