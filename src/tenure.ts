// What the serving instance holds, as one thing: the data-dir flock and the control path (docs/protocol.md
// §5.3: the flock holder owns the control path). Released at seal, reclaimed after a rollback, given up at
// a stop. The one place where an incumbent takes its tenure back.

import { statSync, unlinkSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { bindControlSocket } from './control-socket.js';
import { isHandoffError } from './errors.js';
import { DataDirLock } from './lock.js';
import type { Logger } from './log.js';

export interface TenureOptions {
  readonly logger: Logger;
  /** Poll interval while retrying the flock. */
  readonly resumeFlockPollMs: number;
  /** Called for each connection accepted on the control socket (also after a re-claim rebinds it). */
  readonly onConnection: (socket: Socket) => void;
}

export class Tenure {
  readonly controlPath: string;
  readonly dataDir: string;
  readonly #options: TenureOptions;
  #lock: DataDirLock | undefined;
  #server: Server;
  /** Inode of the socket file we put at controlPath, to tell whether the path still leads to us. */
  #pathIno: number;
  #serverClosed = false;

  constructor(server: Server, controlPath: string, lock: DataDirLock, options: TenureOptions) {
    this.controlPath = controlPath;
    this.dataDir = lock.dataDir;
    this.#lock = lock;
    this.#options = options;
    this.#server = server;
    this.#pathIno = this.#adopt(server);
  }

  /** True while the flock is held (false between a seal and a reclaim). */
  get holdsLock(): boolean {
    return this.#lock?.held ?? false;
  }

  /** Releases the flock (after a successful seal, or at a stop). The control path stays ours until Commit. */
  releaseLock(): void {
    this.#lock?.release();
    this.#lock = undefined;
  }

  /**
   * Takes the tenure back after a rollback: the flock, if not held (retried for `retryMs`, 0 = once), then
   * the control path, if a successor's socket replaced ours there. Throws the last flock error when the
   * flock cannot be had: `LockHeld` means a successor owns the data now. A control path that cannot be
   * re-claimed is logged, not thrown: it costs the next handoff, not service.
   */
  async reclaim(retryMs: number): Promise<void> {
    if (!this.holdsLock) this.#lock = await this.#acquire(retryMs);
    try {
      await this.#reclaimControlPath();
    } catch (error) {
      this.#options.logger.error(
        { err: error, controlPath: this.controlPath },
        'could not re-claim the control path; serving on, but a handoff cannot reach this daemon',
      );
    }
  }

  /**
   * Stops accepting control connections for good (sessions already accepted go on): a later reclaim takes
   * the flock back but never binds the control path again — the daemon is stopping or has handed off.
   */
  closeServer(): void {
    this.#serverClosed = true;
    this.#server.close();
  }

  /**
   * At a stop: unlinks the control path if it is still our socket file. stat → unlink is not atomic, but
   * nobody else binds this path while we hold the flock outside a handoff (a successor binds it only after
   * our seal, and a stop happens outside one).
   */
  removeControlPath(): void {
    try {
      if (this.holdsLock && statSync(this.controlPath).ino === this.#pathIno) unlinkSync(this.controlPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.#options.logger.warn(
          { err: error, controlPath: this.controlPath },
          'could not remove the control socket',
        );
      }
    }
  }

  async #acquire(retryMs: number): Promise<DataDirLock> {
    const { logger, resumeFlockPollMs } = this.#options;
    const giveUpAt = Date.now() + retryMs;
    for (;;) {
      try {
        return await DataDirLock.acquire(this.dataDir, { logger });
      } catch (error) {
        if (Date.now() >= giveUpAt) {
          const message = isHandoffError(error, 'LockHeld')
            ? 'the data dir belongs to another process now'
            : 'cannot re-take the data-dir lock';
          logger.error({ err: error, dataDir: this.dataDir }, message);
          throw error;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, resumeFlockPollMs));
    }
  }

  /**
   * A successor binds the path right after sending Ready; if the supervisor then rolls back (a failed health
   * or revision gate), the path leads to the dead successor's socket: bind ours again (atomically).
   */
  async #reclaimControlPath(): Promise<void> {
    let current: number | undefined;
    try {
      current = statSync(this.controlPath).ino;
    } catch {
      current = undefined;
    }
    if (current === this.#pathIno || this.#serverClosed) return;
    const server = await bindControlSocket(this.controlPath);
    if (this.#serverClosed) {
      server.close(); // closed while we were binding: nothing may listen any more
      return;
    }
    const previous = this.#server;
    this.#server = server;
    this.#pathIno = this.#adopt(server);
    // Closing a listener leaves connections it already accepted (sessions in progress) untouched.
    previous.close();
    this.#options.logger.warn(
      { controlPath: this.controlPath },
      're-claimed the control path after a rollback',
    );
  }

  #adopt(server: Server): number {
    server.on('connection', this.#options.onConnection);
    server.on('error', (error) =>
      this.#options.logger.error({ err: error, controlPath: this.controlPath }, 'control socket error'),
    );
    return statSync(this.controlPath).ino;
  }
}
