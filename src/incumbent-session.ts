// One supervisor session at the incumbent (docs/protocol.md §5.2): Hello/HelloAck, then the message table, as a small
// state machine. Each message's checks sit next to its transition. The serve loop (incumbent.ts) owns
// what happens after a session ends; this file reports the phase it ended in.

import { CrashPoint, crashHere } from './crash.js';
import { abandonment, type Drainable, type DrainReport, type SealReport } from './drainable.js';
import { HandoffError, isHandoffError } from './errors.js';
import {
  announce,
  HandoffEvent,
  type HandoffEventMap,
  type HandoffEventName,
  type HandoffEvents,
} from './events.js';
import type { Logger } from './log.js';
import type { HandoffId, Message } from './protocol/messages.js';
import { PROTO_MAX, PROTO_MIN } from './protocol/messages.js';
import type { FramedConnection } from './wire.js';

/**
 * What the incumbent owns, as a session sees it: the right to run the one handoff, and the tenure (the lock,
 * released after a seal and re-taken on rollback, and the control path).
 */
export interface SessionOwnership {
  /** Claims the handoff for this session; false while another session is in one (or recovering from one). */
  beginHandoff(): boolean;
  /** This session is back to idle: another may begin a handoff. */
  endHandoff(): void;
  releaseLock(): void;
  /**
   * Takes the flock again, once, without retrying (throws `LockHeld` when someone else has it), and makes
   * sure the control path leads to this incumbent again.
   */
  reclaim(): Promise<void>;
}

export interface SessionTiming {
  readonly helloReadTimeoutMs: number;
  readonly livenessTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly wireSlackMs: number;
  readonly minReadTimeoutMs: number;
}

export interface SessionContext {
  readonly conn: FramedConnection;
  readonly drainable: Drainable;
  readonly ownership: SessionOwnership;
  readonly timing: SessionTiming;
  readonly buildId: Uint8Array;
  readonly events: HandoffEvents;
  readonly logger: Logger;
}

/** Where a session stands. `drained`/`sealed` carry the active handoff and its absolute wait bound. */
type SessionState =
  | { readonly phase: 'idle' }
  | { readonly phase: 'drained'; readonly id: HandoffId; readonly waitUntil: number }
  | { readonly phase: 'sealed'; readonly id: HandoffId; readonly waitUntil: number };

export type SessionPhase = SessionState['phase'];

export type SessionEnd =
  | { readonly kind: 'committed'; readonly handoffId: HandoffId }
  /** The session ended without a Commit, in `phase`; `error` says why when it was not a clean close. */
  | {
      readonly kind: 'ended';
      readonly phase: SessionPhase;
      readonly handoffId?: HandoffId;
      readonly error?: HandoffError;
    };

export class IncumbentSession {
  readonly #ctx: SessionContext;
  #state: SessionState = { phase: 'idle' };

  constructor(ctx: SessionContext) {
    this.#ctx = ctx;
  }

  /** Ends the session now (the incumbent is closing, or another session committed). */
  end(): void {
    this.#ctx.conn.destroy();
  }

  /**
   * Back to idle after a rolled-back handoff: calls the daemon's resumeAfterAbort (see #callResume), and only
   * then lets another session begin a handoff, so no drain can start while this resume runs.
   */
  async #resumeThenIdle(id: HandoffId, reason: string, rethrow = false): Promise<void> {
    this.#state = { phase: 'idle' };
    try {
      await this.#callResume(id, reason, rethrow);
    } finally {
      this.#ctx.ownership.endHandoff();
    }
  }

  /** Runs the session to its end. Never throws: every failure is reported in the result. */
  async run(): Promise<SessionEnd> {
    try {
      await this.#handshake();
      for (;;) {
        const { message } = await this.#ctx.conn.read(this.#readTimeoutMs(), 'next message');
        const committed = await this.#handle(message);
        if (committed) return { kind: 'committed', handoffId: committed };
      }
    } catch (error) {
      const state = this.#state;
      const failure = isHandoffError(error)
        ? error
        : new HandoffError('Protocol', String(error), {}, { cause: error });
      const clean = failure.code === 'Io' && failure.details.eof === true && state.phase === 'idle';
      return {
        kind: 'ended',
        phase: state.phase,
        ...(state.phase !== 'idle' && { handoffId: state.id }),
        ...(!clean && { error: failure }),
      };
    }
  }

  // docs/protocol.md §5.2 step 1: we speak first; the supervisor must answer within HELLO_READ_TIMEOUT.
  async #handshake(): Promise<void> {
    const { conn, buildId, timing } = this.#ctx;
    await conn.write({
      type: 'Hello',
      role: 'Incumbent',
      pid: process.pid,
      buildId,
      protoMin: PROTO_MIN,
      protoMax: PROTO_MAX,
      capabilities: 0n,
    });
    const { message } = await conn.read(timing.helloReadTimeoutMs, 'HelloAck');
    if (message.type !== 'HelloAck') throw unexpected(message.type, 'HelloAck');
    conn.adoptChosenVersion(message.protoVersionChosen);
  }

  /**
   * [beyond] Every wait is bounded: before PrepareHandoff by the liveness timeout; after it by the handoff's
   * own deadline plus twice the wire slack (the supervisor has given up and rolled back by then). A timeout ends the session as if
   * the supervisor had disconnected.
   */
  #readTimeoutMs(): number {
    const state = this.#state;
    if (state.phase === 'idle') return this.#ctx.timing.livenessTimeoutMs;
    return Math.max(this.#ctx.timing.minReadTimeoutMs, state.waitUntil - Date.now());
  }

  /** Handles one message; returns the handoff id when it was a valid Commit. */
  async #handle(message: Message): Promise<HandoffId | undefined> {
    switch (message.type) {
      case 'PrepareHandoff':
        await this.#prepare(message.handoffId, Number(message.deadlineMs), Number(message.drainGraceMs));
        return undefined;
      case 'SealRequest':
        await this.#seal(message.handoffId);
        return undefined;
      case 'Commit': {
        // docs/protocol.md §5.2: Commit only for the active handoff, and only once it is sealed.
        const state = this.#state;
        if (state.phase === 'idle' || state.id !== message.handoffId)
          throw unexpected('Commit for unknown id');
        if (state.phase !== 'sealed') throw new HandoffError('Protocol', 'Commit before SealComplete');
        // Past the point of no return: a throwing event listener or log sink must not turn a commit into a
        // session error (which would make this daemon try to re-take the successor's lock); announce never throws.
        this.#announce(HandoffEvent.COMMIT, { handoffId: state.id }, 'handoff committed');
        crashHere(CrashPoint.O_AFTER_COMMIT_RECV);
        return state.id;
      }
      case 'ResumeAfterAbort':
      case 'Abort':
        await this.#resume(message);
        return undefined;
      case 'Heartbeat':
        // Liveness only, in any state: echo it.
        await this.#ctx.conn.heartbeat();
        return undefined;
      case 'Hello':
      case 'HelloAck':
      case 'Drained':
      case 'SealProgress':
      case 'SealComplete':
      case 'SealFailed':
      case 'Begin':
      case 'Ready':
        throw unexpected(message.type);
      default:
        return unreachable(message);
    }
  }

  // docs/protocol.md §5.2 PrepareHandoff: one handoff per session; the same id again drains again (0.1.2 behaviour).
  async #prepare(id: HandoffId, deadlineMs: number, drainGraceMs: number): Promise<void> {
    const state = this.#state;
    if (state.phase !== 'idle' && state.id !== id) {
      throw new HandoffError(
        'HandoffInProgress',
        `PrepareHandoff for ${id} while handoff ${state.id} is active`,
      );
    }
    if (state.phase === 'sealed')
      throw new HandoffError('Protocol', `PrepareHandoff for ${id} after it sealed`);
    const ctx = this.#ctx;
    // [beyond] Sessions run side by side, but only one of them may be in a handoff.
    if (!ctx.ownership.beginHandoff()) {
      throw new HandoffError(
        'HandoffInProgress',
        `PrepareHandoff for ${id} while another session is in a handoff`,
      );
    }
    const startedAt = Date.now();
    // The supervisor waits for Ready until its deadline + slack and only then sends ResumeAfterAbort; giving
    // up at deadline + slack too would race that message (docs/protocol.md §4 says one slack; a second one is needed).
    const waitUntil = startedAt + deadlineMs + 2 * ctx.timing.wireSlackMs;
    const deadline = startedAt + Math.min(drainGraceMs, deadlineMs);
    this.#announce(HandoffEvent.PREPARE, { handoffId: id, deadlineMs, drainGraceMs }, 'draining');
    // Aborted at the deadline, or when the supervisor is gone: then a running drain learns the handoff was
    // abandoned and returns keeping its connections (the resume follows), instead of destroying them.
    const gone = new AbortController();
    const onGone = () => gone.abort(abandonment(`the supervisor closed the session during the drain`));
    ctx.conn.closeSignal.addEventListener('abort', onGone, { once: true });
    if (ctx.conn.closeSignal.aborted) onGone();
    const signal = AbortSignal.any([gone.signal, AbortSignal.timeout(Math.max(0, deadline - startedAt))]);
    let report: DrainReport;
    try {
      report = checkDrainReport(await this.#withHeartbeats(() => ctx.drainable.drain({ deadline, signal })));
    } catch (error) {
      // [beyond] A drain that throws may have stopped accepting half-way: resume before giving up.
      ctx.logger.error({ handoffId: id, err: error }, 'drain failed; resuming');
      await this.#resumeThenIdle(id, 'drain failed');
      throw hookError('drain', error);
    } finally {
      ctx.conn.closeSignal.removeEventListener('abort', onGone);
    }
    this.#state = { phase: 'drained', id, waitUntil };
    const drainMs = Date.now() - startedAt;
    this.#announce(HandoffEvent.DRAINED, { handoffId: id, drainMs, ...report }, 'drained');
    await this.#send({ type: 'Drained', ...report });
    crashHere(CrashPoint.O_AFTER_DRAINED_SENT);
  }

  // docs/protocol.md §5.2 SealRequest: only for the drained handoff.
  async #seal(id: HandoffId): Promise<void> {
    const state = this.#state;
    if (state.phase === 'sealed' && state.id === id)
      throw new HandoffError('Protocol', `second SealRequest for ${id}`);
    if (state.phase !== 'drained' || state.id !== id) throw unexpected('SealRequest for unknown id');
    const ctx = this.#ctx;
    const startedAt = Date.now();
    this.#announce(HandoffEvent.SEAL, { handoffId: id }, 'sealing');
    let report: SealReport;
    try {
      report = checkSealReport(await this.#withHeartbeats(() => ctx.drainable.seal()));
    } catch (error) {
      // The flock was never released: report the failure, resume, and accept a fresh PrepareHandoff.
      const message = error instanceof Error ? error.message : String(error);
      ctx.logger.error({ handoffId: id, err: error }, 'seal failed; resuming');
      await this.#send({ type: 'SealFailed', handoffId: id, error: message, partialState: '' });
      await this.#resumeThenIdle(id, 'seal failed', true);
      return;
    }
    // The flock is released only now, after seal() succeeded, and before SealComplete goes out: released
    // earlier, a successor could open half-sealed data; released after, the supervisor could send Begin
    // while we still hold it and the successor would fail to take it (docs/protocol.md §1 invariant 2, §5.2).
    ctx.ownership.releaseLock();
    this.#state = { phase: 'sealed', id, waitUntil: state.waitUntil };
    crashHere(CrashPoint.O_AFTER_SEAL_FLOCK_RELEASED);
    const sealMs = Date.now() - startedAt;
    this.#announce(HandoffEvent.SEAL_COMPLETE, { handoffId: id, sealMs, ...report }, 'sealed; lock released');
    await this.#send({ type: 'SealComplete', handoffId: id, ...report });
    crashHere(CrashPoint.O_AFTER_SEAL_COMPLETE_SENT);
  }

  // docs/protocol.md §5.2 ResumeAfterAbort / Abort: roll back whatever this handoff did here.
  async #resume(message: Extract<Message, { type: 'ResumeAfterAbort' | 'Abort' }>): Promise<void> {
    const state = this.#state;
    const id = message.handoffId;
    if (state.phase === 'idle' || state.id !== id) throw unexpected(`${message.type} for unknown id`);
    const reason = message.type === 'Abort' ? message.reason : 'supervisor asked to resume';
    if (message.type === 'Abort') {
      this.#announce(HandoffEvent.ABORT, { handoffId: id, reason }, 'handoff aborted', 'warn');
    }
    if (state.phase === 'sealed') {
      // Take the flock before calling resume: if the acquire fails, the session ends still sealed and the
      // serve loop's retry path calls resumeAfterAbort exactly once (docs/protocol.md §5.2).
      await this.#ctx.ownership.reclaim();
    }
    await this.#resumeThenIdle(id, reason, true);
  }

  /** Calls the daemon's resumeAfterAbort. With `rethrow`, its failure ends the session; else it is logged. */
  async #callResume(id: HandoffId, reason: string, rethrow = false): Promise<void> {
    try {
      await resumeDaemon(this.#ctx, id, reason);
    } catch (error) {
      if (rethrow) throw error;
    }
  }

  #announce<E extends HandoffEventName>(
    event: E,
    payload: HandoffEventMap[E],
    message: string,
    level: 'info' | 'warn' = 'info',
  ): void {
    announce(this.#ctx.events, this.#ctx.logger, event, payload, message, level);
  }

  /**
   * Runs a hook with heartbeats going out, so the supervisor's liveness timeout does not fire during a long
   * drain or seal. They stop before the caller writes its next frame.
   */
  #withHeartbeats<T>(hook: () => Promise<T>): Promise<T> {
    return this.#ctx.conn.withHeartbeats(this.#ctx.timing.heartbeatIntervalMs, hook);
  }

  #send(message: Message): Promise<void> {
    return this.#ctx.conn.write(message);
  }
}

/**
 * Puts the daemon back into service after a rolled-back or broken-off handoff: calls its resumeAfterAbort
 * and announces the resume. A failing hook is logged and thrown as `HookFailed`. The one place both the
 * session (on Abort/ResumeAfterAbort) and the incumbent (after a session broke off) resume through.
 */
export async function resumeDaemon(
  ctx: Pick<SessionContext, 'drainable' | 'events' | 'logger'>,
  handoffId: HandoffId | undefined,
  reason: string,
): Promise<void> {
  try {
    await ctx.drainable.resumeAfterAbort();
  } catch (error) {
    ctx.logger.error({ handoffId, err: error, reason }, 'resumeAfterAbort failed');
    throw hookError('resumeAfterAbort', error);
  }
  announce(ctx.events, ctx.logger, HandoffEvent.RESUME, { handoffId, reason }, 'resumed');
}

function unexpected(name: string, expected?: string): HandoffError {
  const what = expected ? `${name} (expected ${expected})` : name;
  return new HandoffError('UnexpectedMessage', `unexpected message from the supervisor: ${what}`, {
    what: name,
  });
}

function unreachable(message: never): never {
  throw unexpected((message as Message).type);
}

function hookError(hook: string, error: unknown): HandoffError {
  if (isHandoffError(error)) return error;
  const text = error instanceof Error ? error.message : String(error);
  return new HandoffError('HookFailed', `the daemon's ${hook} hook failed: ${text}`, {}, { cause: error });
}

function checkDrainReport(report: DrainReport): DrainReport {
  const { openConnsRemaining, acceptClosed } = report ?? {};
  if (!Number.isInteger(openConnsRemaining) || openConnsRemaining < 0 || openConnsRemaining > 0xffff_ffff) {
    throw new TypeError(`drain() must return openConnsRemaining as a u32, got ${String(openConnsRemaining)}`);
  }
  if (typeof acceptClosed !== 'boolean') {
    throw new TypeError(`drain() must return acceptClosed as a boolean, got ${typeof acceptClosed}`);
  }
  return { openConnsRemaining, acceptClosed };
}

function checkSealReport(report: SealReport): SealReport {
  const { lastRevisionPerShard, dataDirFingerprint } = report ?? {};
  if (!(dataDirFingerprint instanceof Uint8Array) || dataDirFingerprint.length !== 32) {
    throw new TypeError('seal() must return dataDirFingerprint as exactly 32 bytes');
  }
  if (
    !Array.isArray(lastRevisionPerShard) ||
    !lastRevisionPerShard.every((r) => typeof r === 'bigint' && r >= 0n && r < 1n << 64n)
  ) {
    throw new TypeError('seal() must return lastRevisionPerShard as an array of u64 bigints');
  }
  return { lastRevisionPerShard: [...lastRevisionPerShard], dataDirFingerprint };
}
