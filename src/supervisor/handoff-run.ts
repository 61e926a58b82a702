// One handoff from the supervisor's side (docs/protocol.md §5.1): a linear sequence of numbered steps, a journal write
// after each acknowledged step, a crash point after each send and receive, and a guard that kills the
// successor on every early exit until it has said Ready.

import type { ChildProcess } from 'node:child_process';
import { CrashPoint, crashHere } from '../crash.js';
import { HandoffError, isHandoffError } from '../errors.js';
import {
  announce,
  HandoffEvent,
  type HandoffEventMap,
  type HandoffEventName,
  type HandoffEvents,
} from '../events.js';
import type { Logger } from '../log.js';
import { newHandoffId } from '../protocol/handoff-id.js';
import type { JournalPhase } from '../protocol/journal.js';
import type {
  Drained,
  HandoffId,
  Hello,
  Message,
  Ready,
  SealComplete,
  SealFailed,
} from '../protocol/messages.js';
import { MAX_TIMER_MS } from '../timing.js';
import { FramedConnection } from '../wire.js';
import { connectAndReadFirstFrame } from './control-client.js';
import { deleteJournal, writeJournal } from './journal.js';
import type { resolveHandoffSpec, resolveSupervisorOptions } from './options.js';
import { readPhase } from './phase-read.js';
import {
  displayBuildId,
  type HandoffReport,
  type HandoffStep,
  PhaseClock,
  type RollbackKind,
} from './report.js';
import { ChildGuard, type SpawnedInstance, spawnInstance } from './spawn.js';
import type { StderrTail } from './stderr-tail.js';

/** How long a failed successor's stderr may take to reach EOF once it is dead (its last words). */
const LAST_WORDS_WAIT_MS = 1_000;
/** A successor that closed its control channel is given this long to exit by itself before SIGKILL. */
const CLOSED_SUCCESSOR_EXIT_GRACE_MS = 1_000;

export type HandoffOutcome =
  | {
      readonly status: 'committed';
      readonly handoffId: HandoffId;
      readonly child: ChildProcess;
      /** The new build's stderr, passed through to ours; keep it to learn its last words if it dies. */
      readonly stderr: StderrTail;
      readonly report: HandoffReport;
    }
  | {
      readonly status: 'aborted';
      readonly handoffId: HandoffId;
      readonly reason: string;
      readonly report: HandoffReport;
    };

export type Resolved = ReturnType<typeof resolveSupervisorOptions>;

/** The successor, once spawned: the process, the guard that kills it on any early exit, its connection. */
interface SuccessorSide {
  readonly spawned: SpawnedInstance;
  readonly guard: ChildGuard;
  readonly conn: FramedConnection;
}

/** Why a handoff past the seal must roll back. */
interface RollBack {
  readonly reason: string;
  readonly kind: RollbackKind;
}
export type ResolvedSpec = ReturnType<typeof resolveHandoffSpec>;

/** One handoff's state, so each step reads as a line of docs/protocol.md §5.1. */
export class HandoffRun {
  readonly report: HandoffReport;
  readonly #opt: Resolved;
  readonly #spec: ResolvedSpec;
  readonly #events: HandoffEvents;
  readonly #log: Logger;
  readonly #id: HandoffId = newHandoffId();
  /** The handoff's deadline: set when PrepareHandoff is sent (step 6), not at the start; see there. */
  #deadlineAt = Number.POSITIVE_INFINITY;
  readonly #clock = new PhaseClock();
  /** O's connection, once made; N's side, once spawned: what an early exit must close and kill. */
  #o: FramedConnection | undefined;
  #n: SuccessorSide | undefined;
  #journalPhase: JournalPhase | undefined;
  readonly #signal: AbortSignal | undefined;
  /** Set when the guard is disarmed for the commit: from then on nothing interrupts the handoff. */
  #committing = false;

  constructor(options: Resolved, spec: ResolvedSpec, events: HandoffEvents, signal?: AbortSignal) {
    this.#opt = options;
    this.#spec = spec;
    this.#events = events;
    this.#signal = signal;
    this.#log = options.logger;
    this.report = {
      handoffId: this.#id,
      status: 'running',
      startedAtUnixMs: Date.now(),
      incumbent: {},
      successor: {},
      phases: {},
    };
  }

  async perform(): Promise<HandoffOutcome> {
    const signal = this.#signal;
    const onAbort = () => this.#interrupt();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (signal?.aborted)
        return await this.#aborted(`interrupted before it began: ${abortText(signal)}`, 'interrupted');
      return await this.#steps();
    } catch (error) {
      // Interrupted (the supervisor is stopping) before Ready: whatever step noticed it, the old build keeps
      // serving (it recovers by itself when its connection drops) and the new one is dead.
      if (signal?.aborted && !this.#committing) {
        return await this.#aborted(`interrupted: ${abortText(signal)}`, 'interrupted');
      }
      throw error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      // 11. Any early exit kills the successor; dropping O's connection makes O recover by itself.
      await this.#n?.guard.killAndReap();
      this.#n?.conn.destroy();
      this.#o?.destroy();
      this.report.phases.totalMs = this.#clock.total();
    }
  }

  /**
   * The abort signal fired. Before the guard is disarmed, every pending read and write fails at once: N is
   * killed and both connections close (O then resumes by itself, docs/protocol.md §5.3). After it, nothing: the handoff
   * has committed, and the caller stops whichever build serves.
   */
  #interrupt(): void {
    if (this.#committing) return;
    const error = new HandoffError('Aborted', `handoff interrupted: ${abortText(this.#signal!)}`, {
      reason: abortText(this.#signal!),
    });
    void this.#n?.guard.killAndReap();
    this.#n?.conn.destroy(error);
    this.#o?.destroy(error);
  }

  /**
   * docs/protocol.md §5.1 steps 3–9 in order, one method each: connect to O (3), start N and shake hands
   * (4–5), drain (6), seal (7), Begin → Ready (8), commit (9). Step 10 is #rollBackAfterSeal; step 11 is
   * perform's finally.
   */
  async #steps(): Promise<HandoffOutcome> {
    const o = await this.#connectIncumbent();
    let n: SuccessorSide;
    try {
      n = await this.#startSuccessor(o);
    } catch (error) {
      // A successor that cannot get this far is a failed build: roll back (O has done nothing yet; it ends
      // its session when we drop the connection) rather than fail the supervisor.
      if (!isHandoffError(error) || this.#signal?.aborted) throw error;
      const reason = `successor failed before its handshake: ${error.message}`;
      await this.#abortSuccessor(reason);
      return this.#aborted(reason, 'successor_start');
    }
    await this.#journal('Negotiating');
    await this.#drain(o, n);
    const sealed = await this.#seal(o, n);
    if (sealed.type === 'SealFailed') {
      // O kept the flock and has resumed already: nothing to undo there.
      const reason = `seal failed: ${sealed.error}`;
      await this.#abortSuccessor(reason);
      await this.#clearJournal();
      return this.#aborted(reason, 'seal_failed');
    }
    const rollBack = await this.#begin(o, n, sealed);
    if (rollBack) return this.#rollBackAfterSeal(o, rollBack.reason, rollBack.kind);
    return this.#commit(o, n);
  }

  /** 3. Connect to O; read its Hello; negotiate; HelloAck. */
  async #connectIncumbent(): Promise<FramedConnection> {
    this.#clock.start();
    const reached = await connectAndReadFirstFrame(this.#opt.controlPath, this.#opt, this.#signal);
    const o = reached.conn;
    this.#o = o;
    const oHello = checkHello(o, reached.message, 'Incumbent');
    const chosen = o.negotiateVersion(oHello.protoMin, oHello.protoMax);
    await o.write({ type: 'HelloAck', protoVersionChosen: chosen, handoffId: this.#id });
    this.report.incumbent = { pid: oHello.pid, buildId: displayBuildId(oHello.buildId) };
    this.report.phases.helloMs = this.#clock.lap();
    this.#progress('connected');
    crashHere(CrashPoint.S_AFTER_O_HELLO);
    return o;
  }

  /** 4–5. Spawn N with the listeners and the control channel, guard it, and take its Hello. */
  async #startSuccessor(o: FramedConnection): Promise<SuccessorSide> {
    const opt = this.#opt;
    // 4. Spawn N with the listeners and the control channel; guard it; libuv closed our copy of N's end.
    this.#clock.start();
    const spawned = await spawnInstance('successor', this.#spec.instance, opt.listeners);
    // Recorded at once: from here every early exit (perform's finally) kills and reaps it.
    const n: SuccessorSide = {
      spawned,
      guard: new ChildGuard(spawned.child),
      conn: new FramedConnection(spawned.control!, {
        writeTimeoutMs: opt.writeTimeoutMs,
        peer: `successor pid ${spawned.pid}`,
      }),
    };
    this.#n = n;
    // An interrupt that came while spawnInstance ran found no successor to kill: stop now (perform's finally
    // kills it) rather than wait out its start-up.
    this.#signal?.throwIfAborted();
    this.report.successor = { pid: spawned.pid };
    this.#progress('spawned');
    crashHere(CrashPoint.S_AFTER_SPAWN_SUCCESSOR);

    // 5. N's Hello (within startTimeoutMs: N may load its data first): role Successor and the pid we
    // spawned; negotiate; HelloAck. O keeps serving meanwhile; our heartbeats keep its session alive.
    const nHello = await o.withHeartbeats(opt.heartbeatIntervalMs, () => this.#readHello(n.conn));
    if (nHello.pid !== spawned.pid) {
      throw new HandoffError(
        'PidMismatch',
        `successor announced pid ${nHello.pid}, but we spawned pid ${spawned.pid}`,
        { expected: spawned.pid, announced: nHello.pid },
      );
    }
    const chosen = n.conn.negotiateVersion(nHello.protoMin, nHello.protoMax);
    await n.conn.write({ type: 'HelloAck', protoVersionChosen: chosen, handoffId: this.#id });
    this.report.successor.buildId = displayBuildId(nHello.buildId);
    this.report.phases.spawnToHelloMs = this.#clock.lap();
    crashHere(CrashPoint.S_AFTER_N_HELLO);
    return n;
  }

  /** 6. PrepareHandoff → Drained, within the drain budget plus wire slack. */
  async #drain(o: FramedConnection, n: SuccessorSide): Promise<void> {
    const opt = this.#opt;
    const id = this.#id;
    // [beyond] The deadline counts from here, not from the start of the handoff as in the Rust crate
    // (docs/protocol.md §5.1 step 2): it bounds how long the old build is drained, sealed and waiting,
    // and until now it has been serving untouched, whatever the new build did before its Hello. Counted
    // from the start, a successor's prepare would eat the old build's drain and Ready budgets: on this
    // project's 2-core machine the kv example prepares a 1 GB log in 9.7 s when quiet and 37 s under a
    // load average of 7 (leaving 23 s of a 60 s deadline, less than the 25 s drain grace), and the start
    // budget (60 s) equals the deadline, so a build that starts within its budget could leave no deadline at
    // all. The spawn → Hello wait has its own bound (startTimeoutMs).
    this.#deadlineAt = Date.now() + this.#spec.deadlineMs;
    this.#clock.start();
    const deadlineMs = Math.max(opt.minReadTimeoutMs, this.#spec.deadlineMs);
    const { drainGraceMs } = this.#spec;
    this.#emit(HandoffEvent.PREPARE, { handoffId: id, deadlineMs, drainGraceMs });
    this.#progress('prepare');
    await o.write({
      type: 'PrepareHandoff',
      handoffId: id,
      successorPid: n.spawned.pid,
      deadlineMs: BigInt(deadlineMs),
      drainGraceMs: BigInt(drainGraceMs),
    });
    crashHere(CrashPoint.S_AFTER_PREPARE_SENT);
    const drained = await n.conn
      .withHeartbeats(opt.heartbeatIntervalMs, () =>
        readPhase(o, this.#phaseBudget(drainGraceMs), 'Drained', isDrained, opt),
      )
      .catch((error: unknown) => {
        if (!o.closedByPeer) throw error;
        throw new HandoffError(
          'Protocol',
          `the incumbent ended the session after PrepareHandoff: another handoff is in progress on it (another ` +
            'supervisor?), or its drain failed; see its log',
          {},
          { cause: error },
        );
      });
    this.report.phases.drainMs = this.#clock.lap();
    const { openConnsRemaining, acceptClosed } = drained;
    this.#emit(HandoffEvent.DRAINED, {
      handoffId: id,
      drainMs: this.report.phases.drainMs,
      openConnsRemaining,
      acceptClosed,
    });
    this.#progress('drained');
    crashHere(CrashPoint.S_AFTER_DRAINED_RECV);
    await this.#journal('Draining');
  }

  /** 7. SealRequest → SealComplete or SealFailed, until the deadline plus slack. */
  async #seal(o: FramedConnection, n: SuccessorSide): Promise<SealComplete | SealFailed> {
    const opt = this.#opt;
    const id = this.#id;
    this.#clock.start();
    this.#emit(HandoffEvent.SEAL, { handoffId: id });
    await o.write({ type: 'SealRequest', handoffId: id });
    crashHere(CrashPoint.S_AFTER_SEAL_REQUEST_SENT);
    let reply: SealComplete | SealFailed;
    try {
      reply = await n.conn.withHeartbeats(opt.heartbeatIntervalMs, () =>
        readPhase(o, this.#phaseBudget(), 'SealComplete', isSealReplyTo(id), opt),
      );
    } catch (error) {
      if (!isHandoffError(error, 'Timeout')) throw error;
      // O neither sealed nor failed in time: N must not begin. O recovers when we drop its connection.
      await this.#abortSuccessor('seal phase timed out');
      await this.#clearJournal();
      throw new HandoffError(
        'Timeout',
        `the incumbent did not seal in time: ${error.message}`,
        { what: 'SealComplete' },
        { cause: error },
      );
    }
    this.report.phases.sealMs = this.#clock.lap();
    if (reply.type === 'SealComplete') {
      this.#emit(HandoffEvent.SEAL_COMPLETE, {
        handoffId: id,
        sealMs: this.report.phases.sealMs,
        lastRevisionPerShard: reply.lastRevisionPerShard,
      });
      this.#progress('sealed');
    }
    return reply;
  }

  /**
   * 8. O sealed and released the flock: Begin, then wait for Ready and check it. The [beyond] gates come
   * before the guard is disarmed, so a failed gate still rolls back. Returns why it must roll back, if so.
   */
  async #begin(o: FramedConnection, n: SuccessorSide, sealed: SealComplete): Promise<RollBack | undefined> {
    const opt = this.#opt;
    const id = this.#id;
    crashHere(CrashPoint.S_AFTER_SEAL_COMPLETE_RECV);
    await this.#journal('Sealing');
    this.#clock.start();
    let ready: Ready;
    try {
      await n.conn.write({ type: 'Begin', handoffId: id });
      this.#progress('begin');
      crashHere(CrashPoint.S_AFTER_BEGIN_SENT);
      await this.#journal('AwaitingReady');
      // [beyond] Begin → Ready has its own budget (readyTimeoutMs), capped by the deadline: nobody accepts
      // in this phase, so a hung build must not hold clients for the rest of the deadline.
      ready = await o.withHeartbeats(opt.heartbeatIntervalMs, () =>
        readPhase(n.conn, this.#phaseBudget(this.#spec.readyTimeoutMs), 'Ready', isReady, opt),
      );
    } catch (error) {
      const kind = isHandoffError(error, 'Timeout') ? 'ready_timeout' : 'successor_failed';
      return { reason: readyFailureReason(error), kind };
    }
    if (ready.handoffId !== id) {
      const reason = `Ready carries wrong handoff id: got ${ready.handoffId}, expected ${id}`;
      return { reason, kind: 'successor_failed' };
    }
    this.report.phases.beginToReadyMs = this.#clock.lap();
    this.#emit(HandoffEvent.READY, {
      handoffId: id,
      beginToReadyMs: this.report.phases.beginToReadyMs,
      healthzOk: ready.healthzOk,
      listeningOn: ready.listeningOn,
      advertisedRevisionPerShard: ready.advertisedRevisionPerShard,
    });
    crashHere(CrashPoint.S_AFTER_READY_RECV);
    if (!ready.healthzOk && !this.#spec.allowUnhealthy) {
      return { reason: 'successor reported healthzOk=false', kind: 'unhealthy' };
    }
    if (
      this.#spec.verifyRevisions &&
      !sameRevisions(ready.advertisedRevisionPerShard, sealed.lastRevisionPerShard)
    ) {
      const reason = `successor advertised revisions [${ready.advertisedRevisionPerShard.join(', ')}] but the incumbent sealed [${sealed.lastRevisionPerShard.join(', ')}]`;
      return { reason, kind: 'revision_mismatch' };
    }
    this.#progress('ready');
    return undefined;
  }

  /** 9. Disarm the guard, then Commit: N is the service now. */
  async #commit(o: FramedConnection, n: SuccessorSide): Promise<HandoffOutcome> {
    const id = this.#id;
    // The guard goes first: from here N is the service and must survive whatever happens to O.
    this.#committing = true;
    n.guard.disarm();
    this.#emit(HandoffEvent.COMMIT, { handoffId: id, totalMs: this.#clock.total() });
    try {
      await o.write({ type: 'Commit', handoffId: id });
    } catch (error) {
      this.#log.warn(
        { err: error, handoffId: id },
        'Commit did not reach the incumbent; the successor serves anyway',
      );
    }
    crashHere(CrashPoint.S_AFTER_COMMIT_SENT);
    // Past the point of no return nothing may throw (a throw would lose track of the serving build): the
    // journal, events and progress callbacks are all best-effort from here on.
    await this.#journal('Committed');
    await this.#clearJournal();
    crashHere(CrashPoint.S_AFTER_JOURNAL_CLEAR);
    this.report.status = 'committed';
    this.report.phases.totalMs = this.#clock.total();
    this.#progress('committed');
    return {
      status: 'committed',
      handoffId: id,
      child: n.spawned.child,
      stderr: n.spawned.stderr,
      report: this.report,
    };
  }

  /**
   * A phase's read budget, the one rule for all of them: `phaseMs`, or what is left of the handoff's
   * deadline if that is less, floored at minReadTimeoutMs, plus the wire slack; never more than a timer
   * can express.
   */
  #phaseBudget(phaseMs = Number.POSITIVE_INFINITY): number {
    const left = Math.min(phaseMs, this.#deadlineAt - Date.now());
    return Math.min(MAX_TIMER_MS, Math.max(this.#opt.minReadTimeoutMs, left) + this.#opt.wireSlackMs);
  }

  /** 10. A failure in the Ready phase: abort and kill N, then tell O to re-take the flock and resume. */
  async #rollBackAfterSeal(o: FramedConnection, reason: string, kind: RollbackKind): Promise<HandoffOutcome> {
    await this.#abortSuccessor(reason);
    // A failure to reach O here is an error: O then recovers on its own when the connection drops.
    await o.write({ type: 'ResumeAfterAbort', handoffId: this.#id });
    this.#emit(HandoffEvent.RESUME, { handoffId: this.#id, reason });
    await this.#journal('ResumingAfterAbort');
    await this.#clearJournal();
    return this.#aborted(reason, kind);
  }

  /** Best-effort Abort to N, then kill and reap it (its flock, if it took one, dies with it). */
  async #abortSuccessor(reason: string): Promise<void> {
    this.#emit(HandoffEvent.ABORT, { handoffId: this.#id, reason });
    try {
      await this.#n?.conn.write({ type: 'Abort', handoffId: this.#id, reason });
    } catch (error) {
      this.#log.debug({ err: error }, 'Abort did not reach the successor');
    }
    await this.#n?.guard.killAndReap(this.#n.conn.closedByPeer ? CLOSED_SUCCESSOR_EXIT_GRACE_MS : 0);
  }

  /**
   * The rolled-back outcome. The reason gains what the successor itself said, when it died on its own: its
   * exit status and its last words from stderr (a build's own error beats "closed the connection").
   */
  async #aborted(reason: string, kind: RollbackKind): Promise<HandoffOutcome> {
    await this.#n?.guard.killAndReap();
    const exit = this.#n?.guard.exitDescription;

    let full = reason;
    if (exit) {
      // It died on its own: its exit status and what it last wrote to stderr say why, in its own words.
      const lastWords = await this.#n?.spawned.stderr
        .settled(LAST_WORDS_WAIT_MS)
        .then(() => this.#n?.spawned.stderr.lastWords());
      if (lastWords) this.report.successor.lastWords = lastWords;
      full = [
        reason,
        `successor pid ${this.#n?.spawned.pid} ${exit}`,
        lastWords && `its last words: ${lastWords}`,
      ]
        .filter(Boolean)
        .join('; ');
    }
    this.report.status = 'rolled back';
    this.report.reason = full;
    // A failure that our own interruption caused is the interruption's, whatever the successor said.
    this.report.reasonKind = this.#signal?.aborted ? 'interrupted' : kind;
    this.report.phases.totalMs = this.#clock.total();
    this.#progress('rolled back');
    return { status: 'aborted', handoffId: this.#id, reason: full, report: this.report };
  }

  async #readHello(n: FramedConnection): Promise<Hello> {
    const { message } = await n.read(this.#spec.startTimeoutMs, 'peer Hello');
    return checkHello(n, message, 'Successor');
  }

  /** Journals the last acknowledged step. The journal is diagnostic: a failed write is logged, never fatal. */
  async #journal(phase: JournalPhase): Promise<void> {
    const path = this.#opt.journalPath;
    if (!path) return;
    this.#journalPhase = phase;
    try {
      await writeJournal(path, {
        handoffId: this.#id,
        phase,
        incumbentPid: this.report.incumbent.pid ?? 0,
        successorPid: this.report.successor.pid,
        startedAtUnixMs: BigInt(this.report.startedAtUnixMs),
      });
    } catch (error) {
      this.#log.warn({ err: error, handoffId: this.#id, phase }, 'could not write the handoff journal');
    }
  }

  async #clearJournal(): Promise<void> {
    if (!this.#opt.journalPath || !this.#journalPhase) return;
    try {
      await deleteJournal(this.#opt.journalPath);
    } catch (error) {
      this.#log.warn({ err: error, handoffId: this.#id }, 'could not delete the handoff journal');
    }
  }

  /** Events and their log lines are diagnostics: a throwing listener never changes the handoff. */
  #emit<E extends HandoffEventName>(event: E, payload: HandoffEventMap[E]): void {
    announce(this.#events, this.#log, event, payload);
  }

  #progress(step: HandoffStep): void {
    try {
      this.#spec.onProgress?.(step, this.report);
    } catch (error) {
      this.#log.warn({ err: error, step }, 'the onProgress callback threw');
    }
  }
}

function abortText(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (typeof reason === 'string') return reason;
  return reason instanceof Error ? reason.message : 'aborted';
}

/** A peer's first frame must be Hello with the role we expect. */
function checkHello(conn: FramedConnection, message: Message, role: Hello['role']): Hello {
  if (message.type !== 'Hello') {
    throw new HandoffError('UnexpectedMessage', `expected Hello from ${conn.peer}, got ${message.type}`, {
      what: message.type,
    });
  }
  if (message.role !== role) {
    throw new HandoffError('Protocol', `${conn.peer} announced role ${message.role}, expected ${role}`);
  }
  return message;
}

const isDrained = (message: Message): message is Drained => message.type === 'Drained';
const isReady = (message: Message): message is Ready => message.type === 'Ready';
function isSealReplyTo(id: HandoffId) {
  return (message: Message): message is SealComplete | SealFailed =>
    (message.type === 'SealComplete' || message.type === 'SealFailed') && message.handoffId === id;
}

function readyFailureReason(error: unknown): string {
  if (isHandoffError(error, 'Timeout')) return 'ready phase timed out waiting for Ready';
  if (isHandoffError(error, 'UnexpectedMessage')) return `expected Ready, got ${error.details.what}`;
  return `ready read failed: ${error instanceof Error ? error.message : String(error)}`;
}

function sameRevisions(a: readonly bigint[], b: readonly bigint[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}
