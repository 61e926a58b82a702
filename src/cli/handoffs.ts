// The handoffs of `handoff run`: one at a time, to the serving build or a named one, each with an abort
// controller the shutdown pulls; the probation that follows a commit and its fall-back to the previous build;
// and what each handoff leaves behind (history, metrics, counts and the last report for `status`).

import { HandoffError } from '../errors.js';
import type { Logger } from '../log.js';
import type { HandoffReport } from '../supervisor/report.js';
import type { InstanceSpec } from '../supervisor/spawn.js';
import type { HandoffOutcome, Supervisor } from '../supervisor/supervisor.js';
import { checkTriggerBinary } from './binary.js';
import type { HandoffConfig } from './config.js';
import type { DaemonKeeper } from './daemon-keeper.js';
import { childDaemon } from './daemon-process.js';
import { fallBack } from './fall-back.js';
import type { FallBackRecord, HandoffHistory, HandoffTrigger, HistoryEntry } from './history.js';
import { Probation, type ProbationFailure } from './probation.js';
import { waitForIncumbent } from './probe.js';
import { type SdNotify, servingStatus } from './sd-notify.js';

/**
 * How long a committed handoff waits for the new build to answer on the control socket before replying
 * anyway (with a warning). It binds right after Ready, so this is normally a few ms; 5 s is the Hello
 * budget, the time any peer is given to answer a fresh control connection.
 */
const NEW_INCUMBENT_WAIT_MS = 5_000;

/** Sees every finished handoff and every fall-back (the metrics); a throwing observer changes nothing. */
export interface HandoffObserver {
  handoff(report: HandoffReport): void;
  fallBack(record: FallBackRecord): void;
}

/** A build that failed its probation: restarts and SIGHUP skip it until a handoff names it explicitly. */
export interface RejectedBuild {
  readonly binary: string;
  readonly reason: string;
  readonly atUnixMs: number;
}

export class Handoffs {
  readonly #config: HandoffConfig;
  readonly #supervisor: Supervisor;
  readonly #keeper: DaemonKeeper;
  readonly #history: HandoffHistory;
  readonly #log: Logger;
  readonly #notify: SdNotify | undefined;
  readonly #observers: HandoffObserver[] = [];
  readonly stats = { committed: 0, rolledBack: 0, failed: 0 };
  #lastReport: HandoffReport | undefined;
  /** The handoff in flight: its abort controller and its settlement. */
  #running: { controller: AbortController; settled: Promise<unknown> } | undefined;
  #stopping = false;
  #probation: Probation | undefined;
  #rejected: RejectedBuild | undefined;
  #lastFallBack: FallBackRecord | undefined;

  constructor(
    config: HandoffConfig,
    supervisor: Supervisor,
    keeper: DaemonKeeper,
    history: HandoffHistory,
    logger: Logger,
    notify?: SdNotify,
  ) {
    this.#notify = notify;
    this.#config = config;
    this.#supervisor = supervisor;
    this.#keeper = keeper;
    this.#history = history;
    this.#log = logger;
    // The build on probation dying is the probation's failure, not a crash to restart it from.
    keeper.onExitOutsideHandoff(
      ({ pid, how, lastWords }) => this.#probation?.exited(pid, how, lastWords) ?? false,
    );
  }

  get inProgress(): boolean {
    return this.#running !== undefined;
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  get lastReport(): HandoffReport | undefined {
    return this.#lastReport;
  }

  /** The probation under way, if any. */
  get probation(): Probation | undefined {
    return this.#probation?.watching ? this.#probation : undefined;
  }

  /** The probation that started with the commit of `pid` (whatever its state now). */
  probationOf(pid: number | undefined): Probation | undefined {
    return this.#probation?.subject.pid === pid ? this.#probation : undefined;
  }

  get rejected(): RejectedBuild | undefined {
    return this.#rejected;
  }

  get lastFallBack(): FallBackRecord | undefined {
    return this.#lastFallBack;
  }

  history(): readonly HistoryEntry[] {
    return this.#history.entries();
  }

  observe(observer: HandoffObserver): void {
    this.#observers.push(observer);
  }

  /**
   * One handoff to `binary` (default: the build restarts use, with its args). Throws `HandoffInProgress`
   * when one runs, `Aborted` once the supervisor is stopping, `InvalidOption` for a binary a trigger may not
   * name (relative, not an executable file, outside allowed_binary_dirs). `onStep` streams progress. Naming a build that failed its probation is the explicit
   * request that clears its mark.
   */
  handoff(
    binary: string | undefined,
    onStep?: (step: string, elapsedMs: number) => void,
    trigger: HandoffTrigger = 'request',
  ): Promise<HandoffOutcome> {
    let build: InstanceSpec;
    try {
      build = this.#requestedBuild(binary);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#perform(build, onStep, trigger);
  }

  /**
   * The build a trigger names: the one restarts use when it names none (or that same binary), else `binary`
   * with the configured args and env. Throws `InvalidOption` for a binary a trigger may not name.
   */
  #requestedBuild(binary: string | undefined): InstanceSpec {
    if (binary !== undefined) checkTriggerBinary(binary, this.#config.allowedBinaryDirs);
    const restartBuild = this.#keeper.build;
    return binary === undefined || binary === restartBuild.command
      ? restartBuild
      : { command: binary, args: this.#config.args, env: this.#config.env };
  }

  /** SIGHUP: a handoff to the build restarts use (never one that failed its probation), unless one runs. */
  hangup(): void {
    if (this.#stopping) return;
    if (this.#running) {
      this.#log.warn({}, 'SIGHUP ignored: a handoff is in progress');
      return;
    }
    this.#log.info({ binary: this.#keeper.build.command }, 'SIGHUP: starting a handoff to the serving build');
    this.handoff(undefined, undefined, 'sighup').catch(() => {
      // logged by #perform()
    });
  }

  /**
   * No more handoffs: ends the probation, interrupts the handoff in flight (before Ready it rolls back at
   * once; after, it commits) and resolves once it has settled.
   */
  async stop(reason: string): Promise<void> {
    this.#stopping = true;
    this.#probation?.end(reason);
    const running = this.#running;
    if (!running) return;
    running.controller.abort(reason);
    await running.settled;
  }

  /**
   * Runs one handoff to `build`. Everything before the first await is synchronous, so that a fall-back
   * decided in a timer callback owns the one-handoff slot before anything else can take it.
   */
  async #perform(
    build: InstanceSpec,
    onStep: ((step: string, elapsedMs: number) => void) | undefined,
    trigger: HandoffTrigger,
  ): Promise<HandoffOutcome> {
    if (this.#stopping) throw new HandoffError('Aborted', 'the supervisor is stopping');
    // Refuse before touching the keeper: a second handoff must not end the first one's bookkeeping.
    if (this.#running) throw new HandoffError('HandoffInProgress', 'another handoff is already in progress');
    if (!this.#keeper.current) {
      throw new HandoffError(
        'Aborted',
        this.#keeper.gaveUp
          ? 'no daemon is serving (restarts gave up); `handoff upgrade <binary>` cold-starts a build'
          : 'no daemon is serving right now (a restart is pending); try again in a moment',
      );
    }
    if (trigger === 'request' && this.#rejected?.binary === build.command) {
      this.#log.warn({ binary: build.command }, 'handoff requested to the build that failed its probation');
      this.#rejected = undefined;
    }
    // A new handoff replaces the build on probation: the verdict on it no longer matters.
    this.#probation?.end('another handoff replaced the build on probation');
    const previous = this.#keeper.build;
    const controller = new AbortController();
    let settle!: () => void;
    this.#running = { controller, settled: new Promise<void>((resolve) => (settle = resolve)) };
    this.#keeper.beginHandoff();
    this.#notify?.reloading(`handoff to ${build.command}`);
    const started = performance.now();
    let committed: Extract<HandoffOutcome, { status: 'committed' }> | undefined;
    try {
      const outcome = await this.#supervisor.performHandoff(
        {
          ...build,
          deadlineMs: this.#config.deadlineMs,
          drainGraceMs: this.#config.drainGraceMs,
          startTimeoutMs: this.#config.startTimeoutMs,
          readyTimeoutMs: this.#config.readyTimeoutMs,
          allowUnhealthy: this.#config.allowUnhealthy,
          verifyRevisions: this.#config.verifyRevisions,
          onProgress: (step) => onStep?.(step, Math.round(performance.now() - started)),
        },
        { signal: controller.signal },
      );
      if (outcome.status === 'committed') {
        this.stats.committed++;
        committed = outcome;
      } else {
        this.stats.rolledBack++;
      }
      this.#log.info({ report: outcome.report, trigger }, `handoff ${outcome.report.status}`);
      return outcome;
    } catch (error) {
      this.stats.failed++;
      this.#log.error({ err: error, report: this.#supervisor.lastReport, trigger }, 'handoff failed');
      throw error;
    } finally {
      // Past the commit nothing here may throw: the committed build must reach the keeper.
      const report = this.#supervisor.lastReport;
      this.#lastReport = report;
      this.#keeper.endHandoff(
        committed && {
          process: childDaemon(committed.child, committed.stderr),
          build,
          buildId: committed.report.successor.buildId,
        },
        this.#config.deadlineMs,
      );
      const pid = committed?.child.pid;
      // On probation from the commit on: a build that dies at once must meet its probation, not a crash
      // restart of itself.
      if (pid !== undefined && trigger !== 'fall-back') this.#startProbation({ pid, build, previous });
      // Written before the reply: whoever asked then finds it in the history file too.
      if (report) await this.#recorded(report, build, trigger);
      if (pid !== undefined) {
        // The handoff is done for whoever asked only once the next one can start: replying on Commit alone
        // let a trigger sent right after the reply find the old build's dead socket (ECONNREFUSED, measured
        // by the benchmark in about 1 of 3 back-to-back handoffs of the hello daemon). Still in progress
        // meanwhile, so that no other handoff's session can be pre-empted by this probe.
        if (!this.#stopping) await this.#waitForNewIncumbent(pid);
      }
      this.#running = undefined;
      if (!this.#stopping) this.#notify?.ready(servingStatus(this.#keeper.current?.pid));
      settle();
    }
  }

  /** History and observers: diagnostics, so a failure there is only logged. Never rejects. */
  async #recorded(report: HandoffReport, build: InstanceSpec, trigger: HandoffTrigger): Promise<void> {
    try {
      for (const observer of this.#observers) observer.handoff(report);
      const entry = {
        kind: 'handoff',
        atUnixMs: Date.now(),
        binary: build.command,
        trigger,
        report,
      } as const;
      await this.#history.record(structuredClone(entry));
    } catch (error) {
      this.#log.warn({ err: error }, 'could not record the handoff in the history or metrics');
    }
  }

  /**
   * A committed build goes on probation, unless probation is off, the supervisor is stopping, or it is the
   * very build that served before (nothing else to fall back to: its crash is a crash).
   */
  #startProbation(subject: { pid: number; build: InstanceSpec; previous: InstanceSpec }): void {
    const { probationMs, probeUrl, probeIntervalMs, probeFailures } = this.#config;
    if (probationMs === 0 || this.#stopping || sameBuild(subject.build, subject.previous)) return;
    const probation: Probation = new Probation(
      subject,
      { probationMs, probeUrl, probeIntervalMs, probeFailures },
      (failure): Promise<FallBackRecord> => this.#fallBack(probation, failure),
    );
    this.#probation = probation;
    this.#log.info(
      { pid: subject.pid, binary: subject.build.command, probationMs, probeUrl: probeUrl?.href },
      'the new build is on probation',
    );
    void probation.outcome.then((outcome) => {
      if (outcome.result === 'passed') {
        this.#log.info(
          { pid: subject.pid, binary: subject.build.command },
          'the new build passed its probation',
        );
      }
    });
  }

  /**
   * The build on probation failed: it is set aside (restarts and SIGHUP skip it) and the previous build
   * replaces it. The record goes to the log, the history and the observers. Never rejects.
   */
  async #fallBack(probation: Probation, failure: ProbationFailure): Promise<FallBackRecord> {
    const { build: failed } = probation.subject;
    this.#rejected = { binary: failed.command, reason: failure.reason, atUnixMs: Date.now() };
    // A probation fails at the earliest while its own handoff still waits for the build to answer.
    await this.#running?.settled;
    const record = await fallBack(probation.subject, failure, {
      keeper: this.#keeper,
      handOff: (build) => this.#perform(build, undefined, 'fall-back'),
      logger: this.#log,
    });
    this.#lastFallBack = record;
    try {
      const level = record.result === 'serving' ? 'warn' : 'error';
      this.#log[level]({ fallBack: record }, `fall-back ${record.result}`);
      await this.#history.record({ kind: 'fall-back', ...record });
      for (const observer of this.#observers) observer.fallBack(record);
    } catch (error) {
      this.#log.warn({ err: error }, 'could not record the fall-back in the history or metrics');
    }
    return record;
  }

  /** After restarts gave up, an explicit trigger cold-starts the named build (or the serving one). */
  async handoffOrRevive(
    binary: string | undefined,
    onStep?: (step: string, elapsedMs: number) => void,
  ): Promise<HandoffOutcome | 'revived'> {
    if (this.#keeper.current || !this.#keeper.gaveUp || this.#stopping || this.#running) {
      return this.handoff(binary, onStep);
    }
    const build = this.#requestedBuild(binary);
    if (this.#rejected?.binary === build.command) this.#rejected = undefined;
    this.#log.warn({ binary: build.command }, 'cold-starting a build on request after restarts gave up');
    await this.#keeper.revive(build);
    if (!this.#keeper.current) {
      throw new HandoffError('Aborted', `${build.command} did not come up either; see the supervisor's log`);
    }
    return 'revived';
  }

  async #waitForNewIncumbent(pid: number): Promise<void> {
    if (!(await waitForIncumbent(this.#config.controlSocket, pid, NEW_INCUMBENT_WAIT_MS))) {
      this.#log.warn(
        { pid, timeoutMs: NEW_INCUMBENT_WAIT_MS },
        'the committed daemon does not answer on the control socket yet',
      );
    }
  }
}

function sameBuild(a: InstanceSpec, b: InstanceSpec): boolean {
  return (
    a.command === b.command &&
    JSON.stringify([a.args, a.env, a.cwd]) === JSON.stringify([b.args, b.env, b.cwd])
  );
}
