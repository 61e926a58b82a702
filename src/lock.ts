// DataDirLock: the one-writer guarantee (SPEC §1 "No split brain", §6). A kernel flock(LOCK_EX|LOCK_NB) on
// <dataDir>/.handoff.lock marks the writer; the kernel drops it when the holder dies. .handoff.pidfile only
// names the holder for error messages and for the stale-lock check.

import { closeSync, constants, open as openCallback, unlinkSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { writeFileAtomic } from './atomic-file.js';
import { HandoffError, ioError, isHandoffError } from './errors.js';
import { tryFlockExclusive } from './os.js';

/** The lock file inside the data dir: created if missing, never truncated, never deleted. */
export const LOCK_FILE_NAME = '.handoff.lock';
/** The holder's pid and a newline, written atomically after the flock is taken, deleted by `release()`. */
export const PIDFILE_NAME = '.handoff.pidfile';

const openFd = promisify(openCallback);

/**
 * An exclusive kernel lock on a data directory. Hold it before writing anything in the directory; release it
 * only after the data is sealed (SPEC §5.2). The fd is close-on-exec, so no child ever shares the lock.
 */
export class DataDirLock {
  readonly #dataDir: string;
  #fd: number | undefined;

  private constructor(dataDir: string, fd: number) {
    this.#dataDir = dataDir;
    this.#fd = fd;
  }

  /**
   * Creates `dir` (recursively) and its lock file if missing, takes the flock without waiting, and writes the
   * pidfile. Throws `LockHeld` with the pid from the pidfile (0 if unreadable) when another open file description
   * holds the lock: another process, or another `acquire` in this process (flock is per open file description).
   * Throws `Io` when the directory or files cannot be created.
   */
  static async acquire(dir: string): Promise<DataDirLock> {
    const dataDir = resolve(dir);
    const lockPath = join(dataDir, LOCK_FILE_NAME);
    try {
      await mkdir(dataDir, { recursive: true });
    } catch (cause) {
      throw ioError(`cannot create data dir ${dataDir}`, cause, { path: dataDir });
    }
    let fd: number;
    try {
      // O_CREAT without O_TRUNC: an existing lock file keeps its inode, which is the lock's identity. Node opens
      // every file with O_CLOEXEC (libuv's uv_fs_open; checked via /proc/self/fdinfo flags), which keeps the
      // lock fd, and so the lock, out of every child.
      fd = await openFd(lockPath, constants.O_RDWR | constants.O_CREAT, 0o644);
    } catch (cause) {
      throw ioError(`cannot open lock file ${lockPath}`, cause, { path: lockPath });
    }
    let locked: boolean;
    try {
      locked = tryFlockExclusive(fd);
    } catch (cause) {
      closeSync(fd);
      throw cause;
    }
    if (!locked) {
      closeSync(fd);
      const holderPid = await readHolderPid(dataDir);
      throw new HandoffError('LockHeld', `data-dir lock on ${dataDir} held by pid ${holderPid}`, {
        holderPid,
        path: lockPath,
      });
    }
    try {
      // Written only after the flock is ours: a pidfile never names a process that does not hold (or did not
      // last hold) the lock. A crashed holder's pidfile stays behind and is overwritten here.
      await writeFileAtomic(join(dataDir, PIDFILE_NAME), `${process.pid}\n`);
    } catch (cause) {
      closeSync(fd);
      throw ioError(`cannot write pidfile in ${dataDir}`, cause, { path: join(dataDir, PIDFILE_NAME) });
    }
    return new DataDirLock(dataDir, fd);
  }

  /**
   * Like `acquire`, but when the lock is busy and the pidfile names a dead process (or none), tries once more on
   * the same file. Throws `StaleLockBreakRefused` when the named holder is alive or the flock is still held: a
   * busy flock always has a live holder, whatever the pidfile says. The lock file is never unlinked to "break" a
   * lock: a new file would be a second inode and so a second, independent lock (two writers).
   */
  static async acquireOrBreakStale(dir: string): Promise<DataDirLock> {
    let held: HandoffError;
    try {
      return await DataDirLock.acquire(dir);
    } catch (error) {
      if (!isHandoffError(error, 'LockHeld')) throw error;
      held = error;
    }
    const holderPid = held.details.holderPid ?? 0;
    const path = held.details.path;
    if (holderPid !== 0 && isAlive(holderPid)) {
      throw new HandoffError(
        'StaleLockBreakRefused',
        `data-dir lock on ${resolve(dir)} is held by live pid ${holderPid}; refusing to break it`,
        { holderPid, path },
        { cause: held },
      );
    }
    try {
      return await DataDirLock.acquire(dir);
    } catch (error) {
      if (!isHandoffError(error, 'LockHeld')) throw error;
      const named = holderPid === 0 ? 'names no readable pid' : `names dead pid ${holderPid}`;
      throw new HandoffError(
        'StaleLockBreakRefused',
        `data-dir lock on ${resolve(dir)} is still held although its pidfile ${named}: some live process ` +
          'holds the flock (for example through an inherited fd); refusing to break it',
        { holderPid, path },
        { cause: error },
      );
    }
  }

  /** The absolute path of the locked directory. */
  get dataDir(): string {
    return this.#dataDir;
  }

  /** True until `release()`. */
  get held(): boolean {
    return this.#fd !== undefined;
  }

  /**
   * Deletes the pidfile, then closes the fd, which releases the flock. Idempotent. The fd is closed even when the
   * pidfile cannot be deleted (then `Io` is thrown after the lock is already released).
   */
  release(): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    this.#fd = undefined;
    const pidfile = join(this.#dataDir, PIDFILE_NAME);
    let unlinkError: unknown;
    // Pidfile first, flock second: once the fd is closed a new holder may write its own pidfile at any moment,
    // and deleting after the close could delete that one.
    try {
      unlinkSync(pidfile);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') unlinkError = cause;
    }
    try {
      closeSync(fd);
    } catch (cause) {
      throw ioError(`cannot close the lock fd ${fd} of ${this.#dataDir}`, cause, { fd });
    }
    if (unlinkError !== undefined) {
      throw ioError(`released the lock on ${this.#dataDir} but cannot delete ${pidfile}`, unlinkError, {
        path: pidfile,
      });
    }
  }
}

/** The pid in `<dataDir>/.handoff.pidfile`, or 0 when it is missing or does not hold a positive integer. */
async function readHolderPid(dataDir: string): Promise<number> {
  let text: string;
  try {
    text = await readFile(join(dataDir, PIDFILE_NAME), 'utf8');
  } catch {
    return 0;
  }
  const trimmed = text.trim();
  const pid = /^\d+$/.test(trimmed) ? Number(trimmed) : 0;
  return Number.isSafeInteger(pid) && pid > 0 ? pid : 0;
}

/**
 * Whether `pid` names a running process (signal 0). EPERM counts as alive: the process exists but belongs to
 * another user, and evicting a live process of another user is exactly what must never happen. (The Rust crate
 * treats EPERM as not alive; here the safer answer wins.) A recycled pid also reads as alive: that only refuses.
 */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
