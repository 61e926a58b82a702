// The incumbent: the control-socket server inside a serving daemon (docs/protocol.md §5.2). It holds the
// tenure (the data-dir lock and the control path), serves supervisor sessions — any number at once, but
// only one of them in a handoff — and after a handoff's session ended mid-way puts the daemon back into
// service (resume, or re-take the flock and resume), or stops when the data now belongs to another.

import type { Server, Socket } from 'node:net';
import { bindControlSocket, checkPeer } from './control-socket.js';
import type { Drainable } from './drainable.js';
import { HandoffError } from './errors.js';
import { HandoffEvents } from './events.js';
import {
  IncumbentSession,
  resumeDaemon,
  type SessionEnd,
  type SessionOwnership,
} from './incumbent-session.js';
import type { DataDirLock } from './lock.js';
import { createLogger, type Logger } from './log.js';
import { buildIdBytes, invalidOption, positiveInteger, timingOptions } from './options.js';
import { Tenure } from './tenure.js';
import { DEFAULTS } from './timing.js';
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
  /** Control sessions at once (only one of them can be in a handoff); more are closed at once. Default: 16. */
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
    maxQueuedConnections: positiveInteger(
      'maxQueuedConnections',
      options.maxQueuedConnections,
      DEFAULTS.maxQueuedConnections,
    ),
    logger: options.logger ?? createLogger('handoff.incumbent'),
  };
}

/** How `serve` ended: a committed handoff (the daemon should finish and exit 0), or `close()` was called. */
export type ServeOutcome = 'committed' | 'closed';

/*
 * Why several sessions at once, and not one at a time with the idle one yielding: a client that connects and
 * idles (or heartbeats) must not keep every supervisor out, and a yield rule lets a late connection — a
 * status probe accepted after its client gave up, a probe racing a trigger — knock a supervisor's session
 * off between its HelloAck and its PrepareHandoff (measured: a handoff failed with EPIPE on HelloAck). Here a
 * session only contends for the one thing that must be exclusive: the handoff itself.
 */
export class Incumbent {
  /** Handoff events (docs/protocol.md §9) as this incumbent sees them. */
  readonly events = new HandoffEvents();
  readonly controlPath: string;
  readonly #options: ResolvedOptions;
  readonly #tenure: Tenure;
  readonly #sessions = new Set<IncumbentSession>();
  /** Connections accepted before `serve` was called; they get their sessions then. */
  readonly #early: Socket[] = [];
  /** The session in a handoff (past PrepareHandoff), or whose end is being recovered from. */
  #owner: IncumbentSession | undefined;
  #drainable: Drainable | undefined;
  #recovering: Promise<void> | undefined;
  #finish: { resolve(outcome: ServeOutcome): void; reject(error: unknown): void } | undefined;
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
    this.#options = options;
    this.#tenure = new Tenure(server, controlPath, lock, {
      logger: options.logger,
      resumeFlockPollMs: options.resumeFlockPollMs,
      onConnection: this.#onConnection,
    });
  }

  /**
   * Serves supervisor sessions until a handoff commits ('committed': finish in-flight reads and exit 0) or
   * `close()` is called ('closed'). Rejects only when a handoff's session ended after our seal and the
   * data-dir lock could not be re-taken within resumeFlockTimeoutMs: another process legitimately owns the
   * data now, and this daemon must stop.
   */
  serve(drainable: Drainable): Promise<ServeOutcome> {
    if (this.#serving)
      return Promise.reject(new HandoffError('Protocol', 'Incumbent.serve() was already called'));
    this.#serving = true;
    this.#drainable = drainable;
    const outcome = new Promise<ServeOutcome>((resolve, reject) => {
      this.#finish = { resolve, reject };
    });
    if (this.#closed) this.#settle('closed');
    for (const socket of this.#early.splice(0)) this.#startSession(socket);
    return outcome;
  }

  /**
   * Stops accepting sessions and ends those in progress; `serve` resolves 'closed' (after putting the daemon
   * back into service if a handoff was under way). Removes the control socket file if the path still leads
   * to our socket (a successor's socket there is left alone). Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#tenure.closeServer();
    for (const socket of this.#early.splice(0)) socket.destroy();
    for (const session of this.#sessions) session.end();
    this.#tenure.removeControlPath();
    this.#settleClosedWhenIdle();
  }

  /**
   * Releases the data-dir lock, for a daemon shutting down after `serve` resolved 'closed' (never during
   * `serve`: the library owns the lock while it serves).
   */
  releaseLock(): void {
    if (this.#serving && !this.#closed) throw new HandoffError('Protocol', 'releaseLock() while serving');
    this.#tenure.releaseLock();
  }

  /** True while this incumbent holds the data-dir lock (false between a seal and a resume). */
  get holdsLock(): boolean {
    return this.#tenure.holdsLock;
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
    if (this.#closed || this.#sessions.size + this.#early.length >= maxQueuedConnections) {
      logger.warn({ controlPath: this.controlPath }, 'control connection dropped: too many sessions');
      socket.destroy();
      return;
    }
    socket.on('error', () => {}); // a peer that resets must not crash us; its session reports it
    if (this.#serving) this.#startSession(socket);
    else this.#early.push(socket);
  };

  #startSession(socket: Socket): void {
    if (socket.destroyed) return;
    const conn = new FramedConnection(socket, {
      writeTimeoutMs: this.#options.writeTimeoutMs,
      peer: `supervisor on ${this.controlPath}`,
    });
    // Accepted paused (pauseOnConnect): nothing is read before the session's framed reader is in place.
    socket.resume();
    const session: IncumbentSession = new IncumbentSession({
      conn,
      drainable: this.#drainable!,
      ownership: this.#ownership(() => session),
      timing: this.#options,
      buildId: this.#options.buildId,
      events: this.events,
      logger: this.#options.logger,
    });
    this.#sessions.add(session);
    void session.run().then((end) => {
      conn.destroy();
      this.#sessions.delete(session);
      this.#sessionEnded(session, end);
    });
  }

  #sessionEnded(session: IncumbentSession, end: SessionEnd): void {
    if (end.kind === 'committed') {
      // The data and the control path belong to the successor now: end every other session.
      for (const other of this.#sessions) other.end();
      this.#tenure.closeServer();
      this.#settle('committed');
      return;
    }
    const { logger } = this.#options;
    if (end.error)
      logger.warn({ err: end.error, phase: end.phase, handoffId: end.handoffId }, 'session ended');
    if (this.#owner !== session) return;
    if (end.phase === 'idle') {
      this.#owner = undefined;
      return;
    }
    // The owner stays set while we recover, so no other session can begin a handoff meanwhile.
    this.#recovering = this.#recover(end)
      .catch((error: unknown) => this.#settle(error))
      .finally(() => {
        this.#owner = undefined;
        this.#recovering = undefined;
        this.#settleClosedWhenIdle();
      });
  }

  /** docs/protocol.md §5.2 step 3: put the daemon back into service after a handoff's session broke off. */
  async #recover(end: Extract<SessionEnd, { kind: 'ended' }>): Promise<void> {
    // Sealed: we released the flock (unless a Resume took it back before the session broke). If we can take
    // it back, nobody else began: resume. If not, the successor took it legitimately (it got Begin): the data
    // is its now, and we must stop (the rejection reaches serve).
    if (end.phase === 'sealed') await this.#tenure.reclaim(this.#options.resumeFlockTimeoutMs);
    const reason = `session ended after ${end.phase === 'sealed' ? 'seal' : 'drain'}`;
    const daemon = { drainable: this.#drainable!, events: this.events, logger: this.#options.logger };
    await resumeDaemon(daemon, end.handoffId, reason).catch(() => {
      // Logged by resumeDaemon; the daemon serves on as well as its hook left it.
    });
  }

  #ownership(session: () => IncumbentSession): SessionOwnership {
    return {
      beginHandoff: () => {
        if (this.#owner !== undefined && this.#owner !== session()) return false;
        this.#owner = session();
        return true;
      },
      endHandoff: () => {
        if (this.#owner === session()) this.#owner = undefined;
      },
      releaseLock: () => this.#tenure.releaseLock(),
      // Taken once, no retry (docs/protocol.md §5.2): LockHeld ends the session still sealed, and the
      // recovery after it retries.
      reclaim: () => this.#tenure.reclaim(0),
    };
  }

  #settleClosedWhenIdle(): void {
    if (this.#closed && !this.#recovering) this.#settle('closed');
  }

  #settle(outcome: ServeOutcome | unknown): void {
    const finish = this.#finish;
    if (!finish) return;
    this.#finish = undefined;
    this.#tenure.closeServer();
    for (const session of this.#sessions) session.end();
    if (outcome === 'committed' || outcome === 'closed') finish.resolve(outcome);
    else finish.reject(outcome);
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
