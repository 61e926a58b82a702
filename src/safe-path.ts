// Paths on a shared host (docs/operations.md, "Security model"): a directory we keep files or sockets in must
// be ours (or root's) and not writable by anyone else — nor may any directory above it let someone else
// swap it — and a Unix socket is bound where nobody else can interfere, then renamed into place.

import { lstatSync, mkdirSync, mkdtempSync, renameSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { HandoffError, ioError } from './errors.js';
import { checkSocketPath, closeFd, listenUnix } from './os.js';

const GROUP_OR_OTHER_WRITE = 0o022;
const STICKY = 0o1000;

/**
 * Throws `UnsafePath` unless `dir` and every directory above it are safe from other local users: each is
 * owned by our uid or root, and none is writable by group or others — except a sticky one (like /tmp), in
 * which others cannot rename or remove what is ours; `dir` itself may be sticky and shared only if it is
 * ours. `what` names the directory's use in the message ("data dir", …). A missing `dir` is checked from its
 * nearest existing ancestor (it will be created ours).
 */
export function checkDirectory(dir: string, what: string): void {
  const uid = process.getuid?.();
  if (uid === undefined) return; // not a POSIX platform: nothing to compare against
  let path = resolve(dir);
  let leaf = true;
  for (;;) {
    let stat: ReturnType<typeof statSync>;
    try {
      stat = statSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || path === dirname(path)) {
        throw ioError(`cannot check the ${what} ${path}`, error, { path });
      }
      // Missing: it will be created ours; what exists above it is checked as an ancestor.
      path = dirname(path);
      leaf = false;
      continue;
    }
    if (!stat.isDirectory()) {
      throw unsafe(path, what, `${path} is not a directory`, 'use a directory');
    }
    const mode = stat.mode & 0o7777;
    const owner = stat.uid;
    if (owner !== uid && owner !== 0) {
      throw unsafe(
        path,
        what,
        `${path} belongs to uid ${owner} (mode ${octal(mode)}), not to us (uid ${uid}) or root`,
        `chown ${uid} ${path}, or use a directory of your own`,
      );
    }
    const shared = (mode & GROUP_OR_OTHER_WRITE) !== 0;
    const sticky = (mode & STICKY) !== 0;
    if (shared && !(sticky && (!leaf || owner === uid))) {
      throw unsafe(
        path,
        what,
        `${path} (owner uid ${owner}, mode ${octal(mode)}) is writable by ${mode & 0o002 ? 'others' : 'its group'}`,
        `chmod 0700 ${path}`,
      );
    }
    if (path === dirname(path)) return;
    path = dirname(path);
    leaf = false;
  }
}

/** Creates `dir` (and missing parents) as ours with mode 0700, then checks it like `checkDirectory`. */
export function ensurePrivateDirectory(dir: string, what: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw ioError(`cannot create the ${what} ${dir}`, error, { path: dir });
  }
  checkDirectory(dir, what);
}

/**
 * Binds a listening Unix socket at `path` with permission bits `mode`, race-free: the socket is bound and
 * chmodded inside a fresh 0700 directory of ours next to `path` (nobody else can swap anything in there),
 * then renamed into place, so `path` goes from whatever was there to our finished socket in one step. The
 * caller has made sure `path` may be replaced. Returns the fd (the caller owns it) and the socket's inode.
 * Throws `SocketPathTooLong` when the temporary path would not fit sun_path, `Io` otherwise.
 */
export function bindUnixSocket(path: string, mode: number, what: string): { fd: number; ino: number } {
  checkSocketPath(path);
  const parent = dirname(path);
  let scratch: string;
  try {
    scratch = mkdtempSync(join(parent, '.ho-'));
  } catch (error) {
    throw ioError(`cannot prepare the ${what} ${path}`, error, { path });
  }
  const temp = join(scratch, 's');
  try {
    try {
      checkSocketPath(temp);
    } catch (error) {
      throw new HandoffError(
        'SocketPathTooLong',
        `${what} ${path} is too close to the sun_path limit for its atomic bind, which needs the temporary ` +
          `name ${basename(scratch)}/s beside it; use a shorter directory`,
        { path },
        { cause: error },
      );
    }
    const fd = listenUnix(temp, { mode });
    try {
      const { ino } = statSync(temp);
      renameSync(temp, path);
      return { fd, ino };
    } catch (error) {
      closeFd(fd);
      throw ioError(`cannot move the ${what} into place at ${path}`, error, { path });
    }
  } finally {
    try {
      if (lstatSync(temp, { throwIfNoEntry: false })) unlinkSync(temp);
      rmdirSync(scratch);
    } catch {
      // a leftover empty scratch dir is harmless; it is ours and private
    }
  }
}

function unsafe(path: string, what: string, problem: string, fix: string): HandoffError {
  return new HandoffError('UnsafePath', `the ${what} is not safe from other users: ${problem}; ${fix}`, {
    path,
  });
}

function octal(mode: number): string {
  return `0${mode.toString(8)}`;
}
