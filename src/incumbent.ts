// The incumbent: the control-socket server inside a serving daemon (docs/protocol.md §5.2). It owns the data-dir lock,
// serves one supervisor session at a time, and after a session that ended mid-handoff puts the daemon back
// into service (resume, or re-take the flock and resume) — or stops when the data now belongs to another.

import { statSync, unlinkSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { bindControlSocket, checkPeer } from './control-socket.js';
import type { Drainable } from './drainable.js';
import { HandoffError, isHandoffError } from './errors.js';
import { HandoffEvent, HandoffEvents } from './events.js';
import { IncumbentSession, type SessionEnd, type SessionOwnership } from './incumbent-session.js';
import { DataDirLock } from './lock.js';
import { createLogger, type Logger } from './log.js';
import { buildIdBytes, invalidOption, positiveInteger, timingOptions } from './options.js';
import { FramedConnection } from './wire.js';

export interface IncumbentOptions {
  /** Sent in Hello; free-form, only logged. A string is sent as UTF-8. Default: empty. */
  readonly buildId?: string | Uint8Array;
  /** Waiting for the supervisor's HelloAck. Default: 5 000 ms (docs/protocol.md §4 HELLO_READ_TIMEOUT). */
  readonly helloReadTimeoutMs?: number;
  /** Longest wait for the supervisor's next frame before PrepareHandoff. Default: 10 000 ms. */
  readonly livenessTimeoutMs?: number;
  /** Heartbeat cadence while drain or seal runs. Default: 2 000 ms. */
  readonly heartbeatIntervalMs?: number;
  /** Added to the handoff's deadline when waiting for the supervisor after PrepareHandoff. Default: 1 000 ms. */
  readonly wireSlackMs?: number;
  /** Floor of every read timeout. Default: 100 ms. */
  readonly minReadTimeoutMs?: number;
  /** How long to retry the flock after a session ended while sealed. Default: 2 000 ms. */
  readonly resumeFlockTimeoutMs?: number;
  /** Poll interval of that retry. Default: 25 ms. */
  readonly resumeFlockPollMs?: number;
  /** A frame that has not reached the kernel after this long ends the session. Default: 10 000 ms. */
  readonly writeTimeoutMs?: number;
  /** Uids served besides our own and root. Default: none. */
  readonly allowedUids?: readonly number[];
  /** Connections waiting for their session; more are closed at once. Default: 16. */
  readonly maxQueuedConnections?: number;
  /** Where log lines go. Default: JSON lines on stderr (pino, synchronous). */
  readonly logger?: Logger;
}

type ResolvedOptions = Required<Omit<IncumbentOptions, 'buildId'>> & { readonly buildId: Uint8Array };

function resolveOptions(options: IncumbentOptions): ResolvedOptions {
  const allowedUids = options.allowedUids ?? [];
  if (!Array.isArray(allowedUids) || !allowedUids.every((uid) => Number.isInteger(uid) && uid >= 0)) {
    throw invalidOption('allowedUids', 'an array of non-negative integers', allowedUids);
  }
  return {
    buildId: buildIdBytes('buildId', options.buildId),
    ...timingOptions(options, [
      'helloReadTimeoutMs',
      'livenessTimeoutMs',
      'heartbeatIntervalMs',
      'wireSlackMs',
      'minReadTimeoutMs',
      'resumeFlockTimeoutMs',
      'resumeFlockPollMs',
      'writeTimeoutMs',
    ]),
    allowedUids,
    maxQueuedConnections: positiveInteger('maxQueuedConnections', options.maxQueuedConnections, 16),
    logger: options.logger ?? createLogger('handoff.incumbent'),
  };
}

/** How `serve` ended: a committed handoff (the daemon should finish and exit 0), or `close()` was called. */
export type ServeOutcome = 'committed' | 'closed';

export class Incumbent {
  /** Handoff events (docs/protocol.md §9) as this incumbent sees them. */
  readonly events = new HandoffEvents();
  readonly controlPath: string;
  #server: Server;
  /** Inode of the socket file we put at controlPath, to tell whether the path still leads to us. */
  #pathIno: number;
  readonly #dataDir: string;
  readonly #options: ResolvedOptions;
  #lock: DataDirLock | undefined;
  #queue: Socket[] = [];
  #wake: (() => void) | undefined;
  #current: IncumbentSession | undefined;
  #serving = false;
  #closed = false;

  /**
   * Binds the control socket at `controlPath` (atomically, mode 0600, replacing a stale file) and keeps
   * `lock`. Only for a cold start, or recovery when no incumbent is alive on that path: a successor must
   * never call this before Ready — it uses `announceAndBind`, which binds only after Ready.
   */
  static async bindColdStart(
    controlPath: string,
    lock: DataDirLock,
    options: IncumbentOptions = {},
  ): Promise<Incumbent> {
    return bindIncumbent(controlPath, lock, options);
  }

  /** @internal Use `Incumbent.bindColdStart` or the successor's `announceAndBind`. */
  constructor(server: Server, controlPath: string, lock: DataDirLock, options: ResolvedOptions) {
    this.controlPath = controlPath;
    this.#lock = lock;
    this.#dataDir = lock.dataDir;
    this.#options = options;
    this.#server = server;
    this.#pathIno = this.#adopt(server);
  }

  #adopt(server: Server): number {
    server.on('connection', this.#onConnection);
    server.on('error', (error) =>
      this.#options.logger.error({ err: error, controlPath: this.controlPath }, 'control socket error'),
    );
    return statSync(this.controlPath).ino;
  }

  /**
   * After a rollback past our seal, makes sure the control path leads to us again. A successor binds the
   * path right after sending Ready; if the supervisor then rolls back (a failed health or revision gate),
   * the path points at the dead successor's socket. Whoever holds the flock must own the control path, or
   * the next handoff could not reach the serving instance.
   */
  async #reclaimControlPath(): Promise<void> {
    let current: number | undefined;
    try {
      current = statSync(this.controlPath).ino;
    } catch {
      current = undefined;
    }
    if (current === this.#pathIno) return;
    const server = await bindControlSocket(this.controlPath);
    const previous = this.#server;
    this.#server = server;
    this.#pathIno = this.#adopt(server);
    // Closing a listener leaves connections it already accepted (the current session) untouched.
    previous.close();
    this.#options.logger.warn(
      { controlPath: this.controlPath },
      're-claimed the control path after a rollback',
    );
  }

  /**
   * Serves supervisor sessions, one at a time, until a handoff commits ('committed': finish in-flight
   * reads and exit 0) or `close()` is called ('closed'). Rejects only when a session ended after our seal
   * and the data-dir lock could not be re-taken within resumeFlockTimeoutMs: another process legitimately
   * owns the data now, and this daemon must stop.
   */
  async serve(drainable: Drainable): Promise<ServeOutcome> {
    if (this.#serving) throw new HandoffError('Protocol', 'Incumbent.serve() was already called');
    this.#serving = true;
    try {
      for (;;) {
        const socket = await this.#nextConnection();
        if (!socket) return 'closed';
        const end = await this.#runSession(socket, drainable);
        if (end.kind === 'committed') return 'committed';
        await this.#afterSession(end, drainable);
      }
    } finally {
      this.#shutdown();
    }
  }

  /**
   * Stops accepting sessions and ends the one in progress; `serve` resolves 'closed'. Removes the control
   * socket file if the path still leads to our socket (a successor's socket there is left alone).
   * Idempotent.
   */
  close(): void {
    const wasClosed = this.#closed;
    this.#closed = true;
    this.#current?.end();
    this.#shutdown();
    this.#wake?.();
    if (!wasClosed) this.#removeControlPath();
  }

  /** Unlinks the control path if it is still our socket file. */
  #removeControlPath(): void {
    try {
      // stat → unlink is not atomic, but nobody else binds this path while we hold the data-dir lock
      // outside a handoff: a successor binds it only after our seal, and close() is for a stop.
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

  /**
   * Releases the data-dir lock, for a daemon shutting down after `serve` resolved 'closed' (never during
   * `serve`: the library owns the lock while it serves).
   */
  releaseLock(): void {
    if (this.#serving && !this.#closed) throw new HandoffError('Protocol', 'releaseLock() while serving');
    this.#lock?.release();
    this.#lock = undefined;
  }

  /** True while this incumbent holds the data-dir lock (false between a seal and a resume). */
  get holdsLock(): boolean {
    return this.#lock?.held ?? false;
  }

  async #runSession(socket: Socket, drainable: Drainable): Promise<SessionEnd> {
    const { logger } = this.#options;
    const conn = new FramedConnection(socket, {
      writeTimeoutMs: this.#options.writeTimeoutMs,
      peer: `supervisor on ${this.controlPath}`,
    });
    socket.resume();
    const session = new IncumbentSession({
      conn,
      drainable,
      ownership: this.#sessionOwnership(),
      timing: this.#options,
      buildId: this.#options.buildId,
      events: this.events,
      logger,
    });
    this.#current = session;
    // A connection that queued while the previous session ran may find this one idle already.
    if (this.#queue.length > 0) session.yieldIfIdle();
    try {
      return await session.run();
    } finally {
      this.#current = undefined;
      conn.destroy();
    }
  }

  /** docs/protocol.md §5.2 step 3: put the daemon back into service after a session that did not commit. */
  async #afterSession(end: Extract<SessionEnd, { kind: 'ended' }>, drainable: Drainable): Promise<void> {
    const { logger } = this.#options;
    if (end.yielded) logger.info({}, 'an idle control session yielded to a newer connection');
    if (end.error)
      logger.warn({ err: end.error, phase: end.phase, handoffId: end.handoffId }, 'session ended');
    if (end.phase === 'drained') {
      await this.#resumeLogged(drainable, end.handoffId, 'session ended after drain');
    } else if (end.phase === 'sealed') {
      // We released the flock at seal (unless a Resume re-took it before the session broke). If we can take
      // it back, nobody else began: resume. If not, the successor took it legitimately (it got Begin): the
      // data is its now, and we must stop.
      if (!this.holdsLock) this.#lock = await this.#retakeLock();
      await this.#reclaimControlPathLogged();
      await this.#resumeLogged(drainable, end.handoffId, 'session ended after seal');
    }
  }

  /**
   * Retries the flock for resumeFlockTimeoutMs. `LockHeld` throughout means a successor owns the data now;
   * any other failure (the lock file cannot be opened) is retried the same way, and thrown at the end: a
   * daemon that cannot prove it holds the lock must not write.
   */
  async #retakeLock(): Promise<DataDirLock> {
    const { resumeFlockTimeoutMs, resumeFlockPollMs, logger } = this.#options;
    const giveUpAt = Date.now() + resumeFlockTimeoutMs;
    for (;;) {
      try {
        return await DataDirLock.acquire(this.#dataDir, { logger });
      } catch (error) {
        if (Date.now() >= giveUpAt) {
          const message = isHandoffError(error, 'LockHeld')
            ? 'the data dir belongs to another process now'
            : 'cannot re-take the data-dir lock';
          logger.error({ err: error, dataDir: this.#dataDir }, message);
          throw error;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, resumeFlockPollMs));
    }
  }

  /** The flock holder owns the control path; failing to re-claim it costs the next handoff, not service. */
  async #reclaimControlPathLogged(): Promise<void> {
    try {
      await this.#reclaimControlPath();
    } catch (error) {
      this.#options.logger.error(
        { err: error, controlPath: this.controlPath },
        'could not re-claim the control path; serving on, but a handoff cannot reach this daemon',
      );
    }
  }

  async #resumeLogged(drainable: Drainable, handoffId: string | undefined, reason: string): Promise<void> {
    const { logger } = this.#options;
    try {
      await drainable.resumeAfterAbort();
      this.events.emit(HandoffEvent.RESUME, { handoffId, reason });
      logger.info({ event: HandoffEvent.RESUME, handoffId, reason }, 'resumed');
    } catch (error) {
      logger.error({ err: error, handoffId, reason }, 'resumeAfterAbort failed');
    }
  }

  #sessionOwnership(): SessionOwnership {
    return {
      releaseLock: () => {
        this.#lock?.release();
        this.#lock = undefined;
      },
      reclaim: async () => {
        // Taken once, no retry (docs/protocol.md): LockHeld ends the session still sealed, and the serve
        // loop's retry path decides. Kept only once taken, so a later retry never trips over our own lock.
        if (!this.holdsLock)
          this.#lock = await DataDirLock.acquire(this.#dataDir, { logger: this.#options.logger });
        await this.#reclaimControlPathLogged();
      },
    };
  }

  #onConnection = (socket: Socket): void => {
    const { logger, allowedUids, maxQueuedConnections } = this.#options;
    try {
      checkPeer(socket, allowedUids);
    } catch (error) {
      logger.warn({ err: error, controlPath: this.controlPath }, 'control connection rejected');
      socket.destroy();
      return;
    }
    if (this.#closed || this.#queue.length >= maxQueuedConnections) {
      logger.warn({ controlPath: this.controlPath }, 'control connection dropped: too many waiting');
      socket.destroy();
      return;
    }
    socket.on('error', () => {}); // a queued peer that resets must not crash us; its session reports it
    this.#queue.push(socket);
    // A session that has not begun a handoff yields: one idle client must not block every supervisor.
    this.#current?.yieldIfIdle();
    this.#wake?.();
  };

  async #nextConnection(): Promise<Socket | undefined> {
    for (;;) {
      if (this.#closed) return undefined;
      const next = this.#queue.shift();
      if (next) {
        if (!next.destroyed) return next;
        continue;
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }

  #shutdown(): void {
    this.#closed = true;
    this.#server.close();
    for (const socket of this.#queue.splice(0)) socket.destroy();
  }
}

/** Binds the control path and builds an Incumbent: the cold start, and the successor after Ready. */
export async function bindIncumbent(
  controlPath: string,
  lock: DataDirLock,
  options: IncumbentOptions = {},
): Promise<Incumbent> {
  const resolved = resolveOptions(options);
  const server = await bindControlSocket(controlPath);
  return new Incumbent(server, controlPath, lock, resolved);
}
