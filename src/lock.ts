// DataDirLock: the one-writer guarantee (docs/protocol.md §1 "No split brain", §6). A kernel flock(LOCK_EX|LOCK_NB) on
// <dataDir>/.handoff.lock marks the writer; the kernel drops it when the holder dies. .handoff.pidfile only
// names the holder for error messages and for the stale-lock check.

import { closeSync, constants, fstatSync, openSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readBoundedFile, writeFileAtomic } from './atomic-file.js';
import { HandoffError, ioError, isHandoffError } from './errors.js';
import { type Logger, silentLogger } from './log.js';
import { tryFlockExclusive } from './os.js';
import { ensurePrivateDirectory } from './safe-path.js';

/** The lock file inside the data dir: created if missing, never truncated, never deleted. */
export const LOCK_FILE_NAME = '.handoff.lock';
/** The holder's pid and a newline, written atomically after the flock is taken, deleted by `release()`. */
export const PIDFILE_NAME = '.handoff.pidfile';
/** A pidfile is a pid and a newline; anything longer is not one of ours and is not read. */
const PIDFILE_MAX_BYTES = 64;

export interface DataDirLockOptions {
  /** Where a failed pidfile write or delete is reported (the pidfile is advisory). Default: nowhere. */
  readonly logger?: Logger;
  /**
   * Leave the pidfile to a `writePidfile()` call, to await later. For a successor after Begin: creating
   * and renaming a file can wait on the filesystem's journal (measured 3–6 ms on ext4 while the supervisor
   * fsyncs its handoff journal), and nobody accepts connections until this process listens. Default: false.
   */
  readonly deferPidfile?: boolean;
}

/**
 * An exclusive kernel lock on a data directory. Hold it before writing anything in the directory; release it
 * only after the data is sealed (docs/protocol.md). The fd is close-on-exec, so no child ever shares the lock.
 */
export class DataDirLock {
  readonly #dataDir: string;
  readonly #logger: Logger;
  #fd: number | undefined;

  private constructor(dataDir: string, fd: number, logger: Logger) {
    this.#dataDir = dataDir;
    this.#fd = fd;
    this.#logger = logger;
  }

  /**
   * Creates `dir` (recursively) and its lock file if missing, takes the flock without waiting, and writes the
   * pidfile. Throws `LockHeld` with the pid from the pidfile (0 if unreadable) when another open file description
   * holds the lock: another process, or another `acquire` in this process (flock is per open file description).
   * Throws `UnsafePath` when the directory (or one above it) can be changed by another user, `Io` when the
   * directory or the lock file cannot be created or opened, or the lock file is not a regular file of ours. The pidfile only names the holder: failing to write it (a full disk) is
   * logged and never costs the flock.
   */
  static async acquire(dir: string, options: DataDirLockOptions = {}): Promise<DataDirLock> {
    const logger = options.logger ?? silentLogger;
    const dataDir = resolve(dir);
    const lockPath = join(dataDir, LOCK_FILE_NAME);
    // Ours and private (created 0700 if missing), or UnsafePath: in a directory others can write, a lock
    // or pidfile could be swapped for something of theirs.
    ensurePrivateDirectory(dataDir, 'data dir');
    let fd: number;
    try {
      // O_CREAT without O_TRUNC: an existing lock file keeps its inode, which is the lock's identity.
      // O_NOFOLLOW: a symlink planted at the lock path is refused, never followed to lock (or create) a file
      // elsewhere. Read-only is all flock needs, and it still opens on a filesystem remounted read-only.
      // Node opens every file with O_CLOEXEC, which keeps the lock fd, and so the lock, out of every child.
      // Blocking, like the directory checks above: a successor opens it after Begin, while nobody accepts,
      // where a thread-pool round trip costs ~1 ms under load and the open itself microseconds.
      fd = openSync(lockPath, constants.O_RDONLY | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    } catch (cause) {
      const hint = (cause as NodeJS.ErrnoException).code === 'ELOOP' ? ' (it is a symlink; remove it)' : '';
      throw ioError(`cannot open lock file ${lockPath}${hint}`, cause, { path: lockPath });
    }
    let locked: boolean;
    try {
      checkLockFile(fd, lockPath);
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
    const lock = new DataDirLock(dataDir, fd, logger);
    if (!options.deferPidfile) await lock.writePidfile();
    return lock;
  }

  /**
   * Writes the pidfile (our pid and a newline, atomically). `acquire` does it unless told `deferPidfile`;
   * then call this once, and let it resolve before `release()`. Never throws: a failure is logged, and a
   * released lock writes nothing. Until it is written, a `LockHeld` names pid 0 (or the last holder's
   * pid, when its pidfile survived a crash); either way the busy flock refuses.
   */
  async writePidfile(): Promise<void> {
    if (this.#fd === undefined) return;
    const pidfile = join(this.#dataDir, PIDFILE_NAME);
    try {
      // Written only after the flock is ours: a pidfile never names a process that does not hold (or did not
      // last hold) the lock. A crashed holder's pidfile stays behind and is replaced here. Not fsynced: it
      // names a live process, and a successor writes it after Begin, while the handoff is in flight.
      await writeFileAtomic(pidfile, `${process.pid}\n`, 0o644, { durable: false });
    } catch (cause) {
      // The flock is the lock; the pidfile only helps messages and the stale-lock check. A full or
      // read-only disk must not turn a resume or a restart into an outage.
      this.#logger.warn(
        { err: cause, path: pidfile },
        'could not write the pidfile; holding the data-dir lock anyway',
      );
    }
  }

  /**
   * Like `acquire`, but when the lock is busy and the pidfile names a dead process (or none), tries once more on
   * the same file. Throws `StaleLockBreakRefused` when the named holder is alive or the flock is still held: a
   * busy flock always has a live holder, whatever the pidfile says. The lock file is never unlinked to "break" a
   * lock: a new file would be a second inode and so a second, independent lock (two writers).
   */
  static async acquireOrBreakStale(dir: string, options: DataDirLockOptions = {}): Promise<DataDirLock> {
    let held: HandoffError;
    try {
      return await DataDirLock.acquire(dir, options);
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
      return await DataDirLock.acquire(dir, options);
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
   * Deletes the pidfile, then closes the fd, which releases the flock. Idempotent. Never throws: the flock
   * is released whatever happens to the pidfile (a failed delete is logged; the next holder replaces it).
   */
  release(): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    this.#fd = undefined;
    const pidfile = join(this.#dataDir, PIDFILE_NAME);
    // Pidfile first, flock second: once the fd is closed a new holder may write its own pidfile at any moment,
    // and deleting after the close could delete that one.
    try {
      unlinkSync(pidfile);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.#logger.warn({ err: cause, path: pidfile }, 'could not delete the pidfile');
      }
    }
    // close(2) releases the fd even when it reports an error (Linux), and with it the flock.
    try {
      closeSync(fd);
    } catch (cause) {
      this.#logger.warn({ err: cause, fd }, 'closing the lock fd reported an error');
    }
  }
}

/** The lock file must be a regular file of our own uid: anything else may be someone else's trap. */
function checkLockFile(fd: number, lockPath: string): void {
  const stat = fstatSync(fd);
  const uid = process.getuid?.();
  if (!stat.isFile()) {
    throw new HandoffError('Io', `lock file ${lockPath} is not a regular file; remove it`, {
      path: lockPath,
    });
  }
  if (uid !== undefined && stat.uid !== uid) {
    throw new HandoffError(
      'Io',
      `lock file ${lockPath} belongs to uid ${stat.uid}, not to us (uid ${uid}); check who owns the data dir`,
      { path: lockPath },
    );
  }
}

/** The pid in `<dataDir>/.handoff.pidfile`, or 0 when it is missing or does not hold a positive integer. */
async function readHolderPid(dataDir: string): Promise<number> {
  let text: string;
  try {
    text = (await readBoundedFile(join(dataDir, PIDFILE_NAME), PIDFILE_MAX_BYTES)).toString('utf8');
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
