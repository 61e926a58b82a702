// One `handoff run` per config: the supervisor takes a kernel flock of its own, beside its trigger socket,
// before it touches any path. A second supervisor with the same config is refused, naming the first one's
// pid, instead of rebinding (and on exit deleting) the paths the first one serves on.

import { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { HandoffError, ioError } from '../errors.js';
import { tryFlockExclusive } from '../os.js';

/** The lock file's content is the holder's pid and a newline; no more is read. */
const PID_MAX_BYTES = 32;

/** Where the supervisor lock of the config whose trigger socket is `triggerPath` lives. */
export function supervisorLockPath(triggerPath: string): string {
  return `${triggerPath}.lock`;
}

export class SupervisorLock {
  readonly path: string;
  #fd: number | undefined;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /**
   * Takes the lock at `path` without waiting, and writes our pid into it. Throws `LockHeld` naming the
   * holder's pid when another supervisor holds it; `Io` when the file cannot be opened, or is a symlink,
   * not a regular file, or not ours. The file is never deleted (a second inode would be a second lock).
   */
  static acquire(path: string): SupervisorLock {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    } catch (cause) {
      throw ioError(`cannot open the supervisor lock ${path}`, cause, { path });
    }
    try {
      const stat = fstatSync(fd);
      const uid = process.getuid?.();
      if (!stat.isFile() || (uid !== undefined && stat.uid !== uid)) {
        throw new HandoffError(
          'Io',
          `the supervisor lock ${path} is not a regular file of uid ${uid} (owner ${stat.uid}); remove it`,
          { path },
        );
      }
      if (!tryFlockExclusive(fd)) {
        const holderPid = readPid(fd);
        throw new HandoffError(
          'LockHeld',
          `another \`handoff run\` (pid ${holderPid || 'unknown'}) already supervises this config ` +
            `(lock ${path}); stop it first, or use another trigger_socket`,
          { holderPid, path },
        );
      }
      // Ours now: the content names us for the next one refused. A failed write only costs that name.
      try {
        ftruncateSync(fd, 0);
        writeSync(fd, `${process.pid}\n`, 0);
      } catch {
        // the flock is the lock
      }
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    return new SupervisorLock(path, fd);
  }

  /** Releases the lock (closing the fd). Idempotent. */
  release(): void {
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd !== undefined) closeSync(fd);
  }
}

function readPid(fd: number): number {
  const buffer = Buffer.alloc(PID_MAX_BYTES);
  let bytes = 0;
  try {
    bytes = readSync(fd, buffer, 0, buffer.length, 0);
  } catch {
    return 0;
  }
  const text = buffer.toString('utf8', 0, bytes).trim();
  return /^\d+$/.test(text) ? Number(text) : 0;
}
