// The handoffs of `handoff run`: one at a time, to the serving build or a named one, each with an abort
// controller the shutdown pulls; their counts and last report for `status`; and the trigger socket's
// requests (`handoff [binary]`, `handoff --stream [binary]`, `status`) with a reply to every one of them.

import type { Socket } from 'node:net';
import { HandoffError, isHandoffError } from '../errors.js';
import type { Logger } from '../log.js';
import type { HandoffReport } from '../supervisor/report.js';
import type { InstanceSpec } from '../supervisor/spawn.js';
import type { HandoffOutcome, Supervisor } from '../supervisor/supervisor.js';
import { checkTriggerBinary } from './binary.js';
import type { HandoffConfig } from './config.js';
import type { DaemonKeeper } from './daemon-keeper.js';
import { childDaemon } from './daemon-process.js';
import { probeIncumbent, waitForIncumbent } from './probe.js';
import { type SdNotify, servingStatus } from './sd-notify.js';
import { formatResultLine, parseTriggerRequest } from './trigger.js';

/**
 * How long a committed handoff waits for the new build to answer on the control socket before replying
 * anyway (with a warning). It binds right after Ready, so this is normally a few ms; 5 s is the Hello
 * budget, the time any peer is given to answer a fresh control connection.
 */
const NEW_INCUMBENT_WAIT_MS = 5_000;
/** `status` reads the serving daemon's Hello for its build id; it gives up after this. */
const STATUS_PROBE_MS = 1_000;

/** A listener as status shows it: its name, address, and where it came from. */
export interface ListenerInfo {
  readonly name: string;
  readonly addr: string;
  readonly source?: string;
}

export class Handoffs {
  readonly #config: HandoffConfig;
  readonly #supervisor: Supervisor;
  readonly #keeper: DaemonKeeper;
  readonly #log: Logger;
  readonly #startedAtUnixMs = Date.now();
  readonly #stats = { committed: 0, rolledBack: 0, failed: 0 };
  #lastReport: HandoffReport | undefined;
  /** The handoff in flight: its abort controller and its settlement. */
  #running: { controller: AbortController; settled: Promise<unknown> } | undefined;
  #stopping = false;
  /** The serving daemon's build id, as last seen (status never probes during a handoff). */
  #buildId: { pid: number; buildId: string } | undefined;
  readonly #listeners: ReadonlyArray<ListenerInfo>;
  readonly #notify: SdNotify | undefined;

  constructor(
    config: HandoffConfig,
    supervisor: Supervisor,
    keeper: DaemonKeeper,
    listeners: ReadonlyArray<ListenerInfo>,
    logger: Logger,
    notify?: SdNotify,
  ) {
    this.#notify = notify;
    this.#config = config;
    this.#supervisor = supervisor;
    this.#keeper = keeper;
    this.#listeners = listeners;
    this.#log = logger;
  }

  get inProgress(): boolean {
    return this.#running !== undefined;
  }

  /**
   * One handoff to `binary` (absolute; default: the serving build's binary, with its args). Throws
   * `HandoffInProgress` when one runs, `Aborted` once the supervisor is stopping, `InvalidOption` for a
   * relative binary. `onStep` streams progress.
   */
  async handoff(
    binary: string | undefined,
    onStep?: (step: string, elapsedMs: number) => void,
  ): Promise<HandoffOutcome> {
    if (this.#stopping) throw new HandoffError('Aborted', 'the supervisor is stopping');
    // Refuse before touching the keeper: a second handoff must not end the first one's bookkeeping.
    if (this.#running) throw new HandoffError('HandoffInProgress', 'another handoff is already in progress');
    if (binary !== undefined) checkTriggerBinary(binary, this.#config.allowedBinaryDirs);
    if (!this.#keeper.current) {
      throw new HandoffError(
        'Aborted',
        this.#keeper.gaveUp
          ? 'no daemon is serving (restarts gave up); `handoff upgrade <binary>` cold-starts a build'
          : 'no daemon is serving right now (a restart is pending); try again in a moment',
      );
    }
    const serving = this.#keeper.build;
    const build: InstanceSpec =
      binary === undefined || binary === serving.command
        ? serving
        : { command: binary, args: this.#config.args, env: this.#config.env };
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
        this.#stats.committed++;
        committed = outcome;
      } else {
        this.#stats.rolledBack++;
      }
      this.#log.info({ report: outcome.report }, `handoff ${outcome.report.status}`);
      return outcome;
    } catch (error) {
      this.#stats.failed++;
      this.#log.error({ err: error, report: this.#supervisor.lastReport }, 'handoff failed');
      throw error;
    } finally {
      this.#lastReport = this.#supervisor.lastReport;
      this.#keeper.endHandoff(
        committed && { process: childDaemon(committed.child, committed.stderr), build },
        this.#config.deadlineMs,
      );
      if (committed) {
        const { pid } = committed.child;
        if (committed.report.successor.buildId !== undefined && pid !== undefined) {
          this.#buildId = { pid, buildId: committed.report.successor.buildId };
        }
        // The handoff is done for whoever asked only once the next one can start: replying on Commit alone
        // let a trigger sent right after the reply find the old build's dead socket (ECONNREFUSED, measured
        // by the benchmark in about 1 of 3 back-to-back handoffs of the hello daemon). Still in progress
        // meanwhile, so that no other handoff's session can be pre-empted by this probe.
        if (!this.#stopping && pid !== undefined) await this.#waitForNewIncumbent(pid);
      }
      this.#running = undefined;
      if (!this.#stopping) this.#notify?.ready(servingStatus(this.#keeper.current?.pid));
      settle();
    }
  }

  /** SIGHUP: a handoff to the serving build, unless one runs already. */
  hangup(): void {
    if (this.#stopping) return;
    if (this.#running) {
      this.#log.warn({}, 'SIGHUP ignored: a handoff is in progress');
      return;
    }
    this.#log.info({ binary: this.#keeper.build.command }, 'SIGHUP: starting a handoff to the serving build');
    this.handoff(undefined).catch(() => {
      // logged by handoff()
    });
  }

  /**
   * No more handoffs: interrupts the one in flight (before Ready it rolls back at once; after, it commits)
   * and resolves once it has settled.
   */
  async stop(reason: string): Promise<void> {
    this.#stopping = true;
    const running = this.#running;
    if (!running) return;
    running.controller.abort(reason);
    await running.settled;
  }

  /** Answers one trigger-socket request line; every request gets a reply. */
  async serveRequest(line: string, socket: Socket): Promise<void> {
    const request = parseTriggerRequest(line);
    if ('error' in request) return void socket.end(`err: ${request.error}\n`);
    if (request.kind === 'status') return void socket.end(`status ${JSON.stringify(await this.status())}\n`);
    const { stream } = request;
    // A failed handoff has a report of its own; a refusal before one began has none to show.
    const reportBefore = this.#supervisor.lastReport;
    try {
      const outcome = await this.#handoffOrRevive(
        request.binary,
        stream ? (step, ms) => socket.write(`progress ${step} ${ms}\n`) : undefined,
      );
      if (outcome === 'revived') {
        socket.write(`ok: cold-started ${this.#keeper.build.command} (pid ${this.#keeper.current?.pid})\n`);
      } else {
        const reason = outcome.status === 'aborted' ? outcome.reason : undefined;
        socket.write(`${formatResultLine(outcome.handoffId, outcome.status === 'committed', reason)}\n`);
        if (stream) socket.write(`report ${JSON.stringify(outcome.report)}\n`);
      }
    } catch (error) {
      const message = isHandoffError(error) ? error.message : String(error);
      const report = this.#supervisor.lastReport;
      const ran = report !== undefined && report !== reportBefore;
      this.#log.warn({ request: line, reply: message }, ran ? 'handoff failed' : 'trigger refused');
      socket.write(`err: ${message}\n`);
      if (stream && ran) socket.write(`report ${JSON.stringify(report)}\n`);
    }
    socket.end();
  }

  /** After restarts gave up, an explicit trigger cold-starts the named build (or the serving one). */
  async #handoffOrRevive(
    binary: string | undefined,
    onStep?: (step: string, elapsedMs: number) => void,
  ): Promise<HandoffOutcome | 'revived'> {
    if (this.#keeper.current || !this.#keeper.gaveUp || this.#stopping || this.#running) {
      return this.handoff(binary, onStep);
    }
    if (binary !== undefined) checkTriggerBinary(binary, this.#config.allowedBinaryDirs);
    const build = binary === undefined ? this.#keeper.build : { ...this.#keeper.build, command: binary };
    this.#log.warn({ binary: build.command }, 'cold-starting a build on request after restarts gave up');
    await this.#keeper.revive(build);
    if (!this.#keeper.current) {
      throw new HandoffError('Aborted', `${build.command} did not come up either; see the supervisor's log`);
    }
    return 'revived';
  }

  async status() {
    const current = this.#keeper.current;
    let buildId = current && this.#buildId?.pid === current.pid ? this.#buildId.buildId : undefined;
    let answers: boolean | undefined;
    // Never probe during a handoff: our probe would take the control session from the handoff's own.
    if (current && !this.#running) {
      const probe = await probeIncumbent(this.#config.controlSocket, STATUS_PROBE_MS);
      answers = probe?.pid === current.pid;
      if (probe && answers) {
        buildId = probe.buildId;
        this.#buildId = { pid: current.pid, buildId };
      }
    }
    const gaveUp = this.#keeper.gaveUp;
    return {
      supervisorPid: process.pid,
      daemon: current && {
        pid: current.pid,
        buildId,
        binary: current.build.command,
        args: current.build.args ?? [],
        controlSocketAnswers: answers,
        startedAtUnixMs: current.startedAtUnixMs,
        uptimeMs: Date.now() - current.startedAtUnixMs,
        ...(current.adoptedAtUnixMs !== undefined && { adoptedAtUnixMs: current.adoptedAtUnixMs }),
      },
      handoffs: { ...this.#stats, inProgress: this.#running !== undefined },
      restarts: this.#keeper.restarts,
      ...(gaveUp && { restartsGaveUp: gaveUp }),
      listeners: this.#listeners.map(({ name, addr, source }) => ({ name, addr, source })),
      dataDir: this.#config.dataDir,
      supervisorUptimeMs: Date.now() - this.#startedAtUnixMs,
      lastReport: this.#lastReport,
    };
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
