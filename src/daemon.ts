// runDaemon: both start-up paths of a handoff-able daemon in one call (docs/protocol.md §5.3, §7). Cold
// start: lock (breaking a stale one), prepare, open, bind the control socket, serve. Successor: prepare,
// handshake, wait for Begin, lock, open (with heartbeats), announce Ready and take over the control socket,
// serve. Then it exits 0 after a Commit, 1 when the data was taken by another instance, and 0 after a
// SIGTERM/SIGINT shutdown.

import type { Drainable, ReadinessSnapshot } from './drainable.js';
import { Incumbent, type IncumbentOptions, type ServeOutcome } from './incumbent.js';
import type { InheritedListeners, ListenerHandle } from './inherited-listeners.js';
import { DataDirLock } from './lock.js';
import { createLogger, type Logger, type LoggerOptions } from './log.js';
import { type BegunSuccessor, detectRole, type Role, type SuccessorOptions } from './successor.js';

/** The name on the library's own lines inside a daemon. */
const LIBRARY_LOG_NAME = 'handoff.daemon';

/**
 * What the daemon's `prepare` is given. A successor's prepare holds no lock and no listener, and the old
 * build still serves (and may be writing the data dir) while it runs; a cold start's holds the lock.
 */
export interface PrepareContext {
  readonly role: 'coldStart' | 'successor';
  readonly dataDir: string;
  /** For the daemon's own lines: named `log.name` (default `daemon`), apart from the library's `handoff.daemon`. */
  readonly logger: Logger;
}

/** What the daemon's `start` is given once it holds the data-dir lock. */
export interface DaemonContext extends PrepareContext {
  /**
   * The supervisor-held listener `name`, for `server.listen(handle)`: once per name; undefined when the
   * daemon was started without a supervisor (bind your own address then). After `start` returns, the
   * library gives the socket back the supervisor's accept-queue size, which Node's listen shrinks.
   */
  takeListener(name: string): ListenerHandle | undefined;
}

/** The running daemon, as `start` returns it. */
export interface DaemonApp {
  readonly drainable: Drainable;
  /**
   * What a successor announces in Ready: called once, as soon as `start` resolves and before this process
   * serves anything, so the revisions are those it took over. Default: healthy, nothing listed.
   */
  readiness?(): ReadinessSnapshot | Promise<ReadinessSnapshot>;
  /**
   * Graceful stop outside a handoff (SIGTERM), or after a start-up that failed once `start` had returned:
   * stop serving and close the data. The lock is released only after it resolves.
   */
  stop?(): Promise<void>;
}

export interface RunDaemonOptions<Prepared = undefined> {
  readonly dataDir: string;
  readonly controlPath: string;
  /** Sent in Hello; free-form. Default: empty. */
  readonly buildId?: string | Uint8Array;
  /**
   * [optional] Warm-up that needs no lock: a successor runs it *before* its Hello, while the old build still
   * serves, so that `start` (after Begin, when nobody accepts connections) has only to catch up.
   * Its result is passed to `start`. Exactly once per process; on a cold start, with the lock held, just
   * before `start`.
   *
   * May: read the data dir (open files read-only), build in-memory state from it, load code, config and
   * caches, reach read-only dependencies. Must not: write, create, truncate, rename or delete anything in the
   * data dir, or lock it (the old build owns it and may be appending this very moment: a write here is a
   * second writer); listen on anything; treat what it read as final (the old build writes until it seals).
   *
   * Time: it counts against the supervisor's start budget (`start_timeout_secs`, default 60 s), not the
   * handoff's deadline, and the old build serves meanwhile. A Rust beyond-handoff 0.1.2 supervisor waits
   * only 5 s for the Hello: under it, a prepare must stay well within that (or do nothing). Memory: until
   * the old build exits, the host holds its state and the prepared one.
   *
   * Failure: if it throws, the process exits 1 before its Hello, and the supervisor rolls back a handoff the
   * old build never noticed (it never drained); if it hangs, the same after the start budget.
   */
  prepare?(context: PrepareContext): Promise<Prepared>;
  /**
   * Opens the data and starts serving. Called with the data-dir lock held, exactly once per process, with
   * what `prepare` returned (undefined without one). It must check whatever it relies on from `prepare`
   * before using it: on a successor, the old build may have written after prepare read, up to its seal.
   * Keep it O(what changed since prepare): nobody accepts connections while a successor's `start` runs.
   */
  start(context: DaemonContext, prepared: Prepared): Promise<DaemonApp>;
  /** Timing and peer options for the control socket. */
  readonly incumbent?: Omit<IncumbentOptions, 'buildId' | 'logger'>;
  /** Timing options of the successor path. */
  readonly successor?: SuccessorOptions;
  /**
   * Where every line goes, the library's and the daemon's (`context.logger` is this logger too). Default: two
   * loggers made with `createLogger` and `log`: the library's lines named `handoff.daemon`, the daemon's
   * own named `log.name`, so a reader can tell them apart.
   */
  readonly logger?: Logger;
  /** The default loggers' name (for `context.logger`; default `daemon`), level and format. */
  readonly log?: LoggerOptions & { readonly name?: string };
  /** Exit the process when done (0 after Commit or shutdown, 1 when the data went to another). Default: true. */
  readonly exitProcess?: boolean;
  /** Stop gracefully on SIGTERM and SIGINT. Default: true. */
  readonly handleSignals?: boolean;
  /** The environment role detection reads (and consumes). Default: process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Runs a daemon through its whole life under a handoff supervisor (or alone: a cold start without inherited
 * listeners works too). Resolves with how serving ended when `exitProcess` is false; otherwise exits.
 */
export async function runDaemon<Prepared = undefined>(
  options: RunDaemonOptions<Prepared>,
): Promise<ServeOutcome> {
  const logger = options.logger ?? createLogger(LIBRARY_LOG_NAME, options.log);
  const exit = options.exitProcess !== false;
  // A daemon's stderr may be a pipe to a supervisor that has died (kill -9): losing log lines is fine,
  // dying of EPIPE on the next console.error is not.
  process.stderr.on('error', ignoreStderrError);
  let incumbent: Incumbent;
  let app: DaemonApp;
  const step: StartUpStep = { name: 'detectRole' };
  try {
    ({ incumbent, app } = await startUp(options, logger, step));
  } catch (error) {
    logger.error({ err: error, step: step.name }, 'daemon start-up failed');
    if (exit) process.exit(1);
    throw error;
  }
  let stopRequested = false;
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'stopping');
    stopRequested = true;
    incumbent.close();
  };
  if (options.handleSignals !== false) {
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  let outcome: ServeOutcome;
  try {
    outcome = await incumbent.serve(app.drainable);
  } catch (error) {
    // Only LockHeld gets here: we sealed, the supervisor vanished, and the successor owns the data now.
    logger.error({ err: error }, 'the data dir belongs to another instance now; exiting');
    if (exit) process.exit(1);
    throw error;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  if (outcome === 'closed' && stopRequested) {
    // The app stops writing before the lock is released: never a moment with a writer and no lock.
    await app.stop?.();
    incumbent.releaseLock();
  }
  logger.info({ outcome }, outcome === 'committed' ? 'handed off; exiting' : 'stopped');
  if (exit) process.exit(0);
  return outcome;
}

/** Where start-up is, for the log line of a failed one (a failed prepare is not a failed start). */
interface StartUpStep {
  name: 'detectRole' | 'lock' | 'prepare' | 'handshake' | 'waitForBegin' | 'start' | 'announce';
}

async function startUp<Prepared>(
  options: RunDaemonOptions<Prepared>,
  logger: Logger,
  step: StartUpStep,
): Promise<{ incumbent: Incumbent; app: DaemonApp }> {
  const appLogger = options.logger ?? createLogger(options.log?.name ?? 'daemon', options.log);
  const role = detectRole(options.env ?? process.env, options.successor);
  const prepare = async (kind: Role['kind']): Promise<Prepared> => {
    step.name = 'prepare';
    if (!options.prepare) return undefined as Prepared;
    return options.prepare({ role: kind, dataDir: options.dataDir, logger: appLogger });
  };
  const incumbentOptions: IncumbentOptions = {
    ...options.incumbent,
    logger,
    ...(options.buildId !== undefined && { buildId: options.buildId }),
  };
  const context = (begun?: BegunSuccessor): DaemonContext => ({
    role: begun ? 'successor' : 'coldStart',
    dataDir: options.dataDir,
    logger: appLogger,
    takeListener: (name) => (begun ? begun.takeListener(name) : role.listeners.take(name)),
  });
  if (role.kind === 'coldStart') {
    step.name = 'lock';
    const lock = await DataDirLock.acquireOrBreakStale(options.dataDir, { logger });
    let app: DaemonApp | undefined;
    try {
      // With the lock held, so nothing can change between prepare and start: a cold start has no one to
      // overlap with, and taking the lock first refuses a second instance before it spends time preparing.
      const prepared = await prepare('coldStart');
      step.name = 'start';
      app = withBacklogRestored(await options.start(context(), prepared), role.listeners, logger);
      const incumbent = await Incumbent.bindColdStart(options.controlPath, lock, incumbentOptions);
      logger.info({ controlPath: options.controlPath }, 'serving (cold start)');
      return { incumbent, app };
    } catch (error) {
      await stopThenRelease(app, lock, logger);
      throw error;
    }
  }
  // Before the Hello: the supervisor has not asked the incumbent for anything yet, so a prepare that fails
  // (or never ends) is a rollback the incumbent never notices (docs/protocol.md §5.1 step 11).
  let prepared: Prepared;
  try {
    prepared = await prepare('successor');
  } catch (error) {
    role.successor.abandon();
    throw error;
  }
  await loadWhatListenLoads();
  step.name = 'handshake';
  const handshook = await role.successor.handshake(options.buildId);
  step.name = 'waitForBegin';
  const begun = await handshook.waitForBegin();
  let lock: DataDirLock | undefined;
  let app: DaemonApp | undefined;
  let pidfileWritten: Promise<void> | undefined;
  const heartbeats = begun.startHeartbeats();
  try {
    // The incumbent sealed and released the lock: it must be free now (docs/protocol.md).
    step.name = 'lock';
    // Between Begin and listening nobody accepts, so the pidfile is written while `start` runs, not before.
    lock = await DataDirLock.acquire(options.dataDir, { logger, deferPidfile: true });
    pidfileWritten = lock.writePidfile();
    step.name = 'start';
    app = withBacklogRestored(await options.start(context(begun), prepared), role.listeners, logger);
    // Ready reports what this process took over, so the snapshot comes before it serves anything: the
    // revisions must be the ones the incumbent sealed, not those of the writes served below.
    const readiness = (await app.readiness?.()) ?? {
      listeningOn: [],
      healthzOk: true,
      advertisedRevisionPerShard: [],
    };
    // Serving before Ready is safe for the data: this process holds the lock and the old one has sealed,
    // and should the handoff still roll back, the incumbent's resumeAfterAbort finds these writes in the
    // data dir. Not for the connections served: a rollback kills this process and resets them. So a build
    // that reports itself unhealthy, which the supervisor rolls back unless told otherwise, announces at
    // once, before it serves, and leaves the queued clients to the supervisor's verdict.
    if (readiness.healthzOk) await serveWhatWaited();
    // Before Ready: once the handoff commits, the pidfile names this process.
    await pidfileWritten;
    step.name = 'announce';
    heartbeats.stop();
    const incumbent = await begun.announceAndBind(readiness, options.controlPath, lock, incumbentOptions);
    logger.info({ controlPath: options.controlPath, handoffId: begun.handoffId }, 'serving (took over)');
    return { incumbent, app };
  } catch (error) {
    heartbeats.stop();
    begun.abandon();
    // A pidfile write still in flight lands before release deletes the pidfile (writePidfile never throws).
    await pidfileWritten;
    if (lock) await stopThenRelease(app, lock, logger);
    throw error;
  }
}

/**
 * Node 20's `net.Server#listen` requires node:cluster (and with it child_process and dgram) at its first
 * call, whatever it listens on. A successor's first listen comes after Begin, while nobody accepts:
 * measured 2.7 ms for a first listen on an inherited fd against 1.4 ms with cluster already loaded (and
 * 0.1 ms for a second one). Loading it before the Hello moves that out of the accept gap.
 */
async function loadWhatListenLoads(): Promise<void> {
  await import('node:cluster');
}

/**
 * Lets the event loop poll at least twice before the announce work: one poll accepts the connections that
 * waited in the accept queue through the handoff, the next reads their first requests (a socket accepted
 * in a poll is watched from the following one). `start` resolves in the middle of a loop iteration, and
 * everything from there to the control-socket bind runs without polling: a `setImmediate` scheduled
 * before this iteration's check phase runs in it, with no poll in between, and each one after that runs
 * one iteration, so one poll, later. Traced on the kv example under load (12 handoffs): the first accept
 * came 14.6 ms (median) after `start` resolved with a single setImmediate, after Ready and the bind.
 */
async function serveWhatWaited(): Promise<void> {
  for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Restores the supervisor's accept-queue size now that `start` has listened, and again after every
 * resume (a resumed daemon listens once more). A failure costs queue space, not correctness: logged.
 */
function withBacklogRestored(app: DaemonApp, listeners: InheritedListeners, logger: Logger): DaemonApp {
  const restore = () => {
    try {
      listeners.restoreBacklog();
    } catch (error) {
      logger.warn({ err: error }, 'could not restore the accept-queue size of an inherited listener');
    }
  };
  restore();
  const { drainable } = app;
  return {
    ...app,
    drainable: {
      drain: (context) => drainable.drain(context),
      seal: () => drainable.seal(),
      async resumeAfterAbort() {
        await drainable.resumeAfterAbort();
        restore();
      },
      ...(drainable.snapshotState && { snapshotState: () => drainable.snapshotState!() }),
    },
  };
}

/** A start-up that failed after `start` returned: the app stops writing first, then the lock goes. */
async function stopThenRelease(app: DaemonApp | undefined, lock: DataDirLock, logger: Logger): Promise<void> {
  if (app) {
    try {
      await app.stop?.();
    } catch (error) {
      // The process is about to exit (or its caller to give up): the lock dies with it either way, but
      // releasing it now would let another instance write beside an app that may still be writing.
      logger.error({ err: error }, 'stop() failed after a failed start-up; keeping the data-dir lock');
      return;
    }
  }
  lock.release();
}

function ignoreStderrError(): void {}
