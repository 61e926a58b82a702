// Real filesystem faults for process tests: a small tmpfs of the test's own, filled to ENOSPC or remounted
// read-only. Needs root (mount(2)); a test that cannot mount is skipped with the reason printed.

import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmdirSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/**
 * Mounts a fresh tmpfs of `sizeKb` (and at most `maxInodes` files) at a new temp directory and returns its path, or undefined after marking
 * the test skipped when mounting is not permitted here. The mount is detached lazily (`umount -l`) when the
 * test ends, so processes still holding files on it do not keep it busy.
 */
export function tmpfs(t: TestContext, sizeKb: number, maxInodes?: number): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'handoff-tmpfs-'));
  const inodes = maxInodes === undefined ? '' : `,nr_inodes=${maxInodes}`;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k,mode=0700${inodes}`, 'tmpfs', dir], {
      stdio: 'pipe',
    });
  } catch (error) {
    rmdirSync(dir);
    t.skip(`cannot mount a tmpfs here (needs root): ${String((error as Error).message).split('\n')[0]}`);
    return undefined;
  }
  t.after(() => {
    execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
    rmdirSync(dir);
  });
  return dir;
}

/** Writes a filler file into `dir` until its filesystem reports ENOSPC; returns the bytes written. */
export function fillFilesystem(dir: string): number {
  const fd = openSync(join(dir, 'filler'), 'w');
  const chunk = Buffer.alloc(4096, 0x61);
  let written = 0;
  try {
    for (;;) written += writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  return written;
}

/** Creates empty files in `dir` until its filesystem has no inode left (ENOSPC); returns how many. */
export function fillInodes(dir: string): number {
  let created = 0;
  try {
    for (;;) {
      closeSync(openSync(join(dir, `inode-${created}`), 'wx'));
      created++;
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  }
  return created;
}

/** Remounts the tmpfs at `dir` read-only (EROFS for every write from now on). */
export function remountReadOnly(dir: string): void {
  try {
    execFileSync('mount', ['-o', 'remount,ro', dir], { stdio: 'pipe' });
  } catch (error) {
    throw new Error(
      `cannot remount ${dir} read-only: ${String((error as { stderr?: unknown }).stderr).trim()}`,
    );
  }
}
