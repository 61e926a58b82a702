// The trigger socket's requests (trigger.ts has the line formats): a handoff, streamed or in the Rust
// reference's one-line reply, optionally waiting for the new build's probation; `status`; `history`. Every
// request gets a reply.

import type { Socket } from 'node:net';
import { isHandoffError } from '../errors.js';
import type { Logger } from '../log.js';
import type { HandoffConfig } from './config.js';
import type { DaemonKeeper } from './daemon-keeper.js';
import type { Handoffs } from './handoffs.js';
import type { HistoryEntry } from './history.js';
import { probeIncumbent } from './probe.js';
import { formatResultLine, parseTriggerRequest } from './trigger.js';

/** `status` reads the serving daemon's Hello for its build id; it gives up after this. */
const STATUS_PROBE_MS = 1_000;
/** How many of the latest history entries `status` shows. */
const STATUS_HISTORY_ENTRIES = 5;

/** A listener as status shows it: its name, address, and where it came from. */
export interface ListenerInfo {
  readonly name: string;
  readonly addr: string;
  readonly source?: string;
}

export class TriggerRequests {
  readonly #config: HandoffConfig;
  readonly #handoffs: Handoffs;
  readonly #keeper: DaemonKeeper;
  readonly #listeners: ReadonlyArray<ListenerInfo>;
  readonly #log: Logger;
  readonly #started: Promise<void>;
  readonly #startedAtUnixMs = Date.now();

  /**
   * `started` resolves once the supervisor has finished starting (its daemon serves and READY=1 went out):
   * a handoff asked for earlier waits for it, so it never races the start-up (status answers at once).
   */
  constructor(
    config: HandoffConfig,
    handoffs: Handoffs,
    keeper: DaemonKeeper,
    listeners: ReadonlyArray<ListenerInfo>,
    logger: Logger,
    started: Promise<void>,
  ) {
    this.#started = started;
    this.#config = config;
    this.#handoffs = handoffs;
    this.#keeper = keeper;
    this.#listeners = listeners;
    this.#log = logger;
  }

  /** Answers one trigger-socket request line. */
  async serve(line: string, socket: Socket): Promise<void> {
    const request = parseTriggerRequest(line);
    if ('error' in request) return void socket.end(`err: ${request.error}\n`);
    if (request.kind === 'status') return void socket.end(`status ${JSON.stringify(await this.status())}\n`);
    if (request.kind === 'history') {
      return void socket.end(`history ${JSON.stringify(this.#handoffs.history())}\n`);
    }
    const { stream, waitProbation } = request;
    await this.#started;
    // A failed handoff has a report of its own; a refusal before one began has none to show.
    const reportBefore = this.#handoffs.lastReport;
    try {
      const outcome = await this.#handoffs.handoffOrRevive(
        request.binary,
        stream ? (step, ms) => socket.write(`progress ${step} ${ms}\n`) : undefined,
      );
      if (outcome === 'revived') {
        socket.write(`ok: cold-started ${this.#keeper.build.command} (pid ${this.#keeper.current?.pid})\n`);
      } else {
        const reason = outcome.status === 'aborted' ? outcome.reason : undefined;
        socket.write(`${formatResultLine(outcome.handoffId, outcome.status === 'committed', reason)}\n`);
        if (stream) socket.write(`report ${JSON.stringify(outcome.report)}\n`);
        if (waitProbation && outcome.status === 'committed') {
          const probation = this.#handoffs.probationOf(outcome.child.pid);
          const verdict = probation
            ? await probation.outcome
            : { result: 'none', reason: this.#noProbationReason() };
          socket.write(`probation ${JSON.stringify(verdict)}\n`);
        }
      }
    } catch (error) {
      const message = isHandoffError(error) ? error.message : String(error);
      const report = this.#handoffs.lastReport;
      const ran = report !== undefined && report !== reportBefore;
      this.#log.warn({ request: line, reply: message }, ran ? 'handoff failed' : 'trigger refused');
      socket.write(`err: ${message}\n`);
      if (stream && ran) socket.write(`report ${JSON.stringify(report)}\n`);
    }
    socket.end();
  }

  #noProbationReason(): string {
    if (this.#config.probationMs === 0) return 'probation_secs is 0';
    if (this.#handoffs.stopping) return 'the supervisor is stopping';
    return 'the same build serves again: there is no other build to fall back to';
  }

  async status() {
    const current = this.#keeper.current;
    const handoffs = this.#handoffs;
    let buildId = current?.buildId;
    let answers: boolean | undefined;
    // Never probe during a handoff: our probe would take the control session from the handoff's own.
    if (current && !handoffs.inProgress) {
      const probe = await probeIncumbent(this.#config.controlSocket, STATUS_PROBE_MS);
      answers = probe?.pid === current.pid;
      if (probe && answers) buildId = probe.buildId;
    }
    const gaveUp = this.#keeper.gaveUp;
    const probation = handoffs.probation;
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
      handoffs: { ...handoffs.stats, inProgress: handoffs.inProgress },
      restarts: this.#keeper.restarts,
      ...(gaveUp && { restartsGaveUp: gaveUp }),
      ...(probation && {
        probation: {
          pid: probation.subject.pid,
          binary: probation.subject.build.command,
          previous: probation.subject.previous.command,
          sinceUnixMs: probation.sinceUnixMs,
          endsAtUnixMs: probation.endsAtUnixMs,
          failedProbes: probation.failedProbes,
        },
      }),
      ...(handoffs.lastFallBack && { lastFallBack: handoffs.lastFallBack }),
      ...(handoffs.rejected && { rejectedBuild: handoffs.rejected }),
      listeners: this.#listeners.map(({ name, addr, source }) => ({ name, addr, source })),
      dataDir: this.#config.dataDir,
      supervisorUptimeMs: Date.now() - this.#startedAtUnixMs,
      lastReport: handoffs.lastReport,
      recent: handoffs.history().slice(-STATUS_HISTORY_ENTRIES) as HistoryEntry[],
    };
  }
}
