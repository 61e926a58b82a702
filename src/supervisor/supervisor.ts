// The supervisor (docs/protocol.md §5.1): owns the listeners it passes to every successor, runs one handoff at a time
// (handoff-run.ts has the steps), and at start-up clears the journal a crashed run left behind.

import { HandoffError, isHandoffError } from '../errors.js';
import { HandoffEvents } from '../events.js';
import type { StateJournal } from '../protocol/journal.js';
import { connectControl } from './control-client.js';
import { type HandoffOutcome, HandoffRun } from './handoff-run.js';
import { deleteJournal, readJournal } from './journal.js';
import {
  type HandoffSpec,
  resolveHandoffSpec,
  resolveSupervisorOptions,
  type SupervisorOptions,
} from './options.js';
import type { HandoffReport } from './report.js';
import type { SupervisedListener } from './spawn.js';

export interface PerformOptions {
  /** Aborting it interrupts the handoff (e.g. the supervisor is stopping); see `performHandoff`. */
  readonly signal?: AbortSignal;
}

export class Supervisor {
  /** Handoff events (docs/protocol.md §9) as the supervisor sees them. */
  readonly events = new HandoffEvents();
  readonly #options: ReturnType<typeof resolveSupervisorOptions>;
  #inProgress = false;
  #lastReport: HandoffReport | undefined;

  constructor(options: SupervisorOptions) {
    this.#options = resolveSupervisorOptions(options);
  }

  get listeners(): readonly SupervisedListener[] {
    return this.#options.listeners;
  }

  /** The report of the most recent handoff, including one that threw. */
  get lastReport(): HandoffReport | undefined {
    return this.#lastReport;
  }

  /**
   * Replaces the incumbent with a new instance of `spec.command`. Resolves `committed` (the caller now owns
   * the successor's process) or `aborted` (rolled back: the incumbent serves on; a retry is safe). Throws
   * `HandoffInProgress` at once when another handoff runs, and other HandoffErrors when the handoff could not
   * be carried out (the incumbent recovers by itself when its connection drops). `options.signal` interrupts
   * the handoff: before Ready it is rolled back at once (the successor killed); after, it commits anyway.
   */
  async performHandoff(spec: HandoffSpec, options: PerformOptions = {}): Promise<HandoffOutcome> {
    // 1. One at a time.
    if (this.#inProgress)
      throw new HandoffError('HandoffInProgress', 'another handoff is already in progress');
    const resolved = resolveHandoffSpec(spec);
    this.#inProgress = true;
    // 2. A fresh id; the total deadline runs from now.
    const run = new HandoffRun(this.#options, resolved, this.events, options.signal);
    this.#lastReport = run.report;
    try {
      return await run.perform();
    } catch (error) {
      run.report.status = 'failed';
      run.report.reason = error instanceof Error ? error.message : String(error);
      run.report.reasonKind = isHandoffError(error) ? error.code : 'Io';
      throw error;
    } finally {
      this.#inProgress = false;
    }
  }

  /**
   * At start-up: if a crashed run left a journal, log it, probe the incumbent (read its Hello, then close,
   * which makes it recover by itself) and delete the journal. Undoes nothing. Returns what was found.
   */
  async resumeFromJournal(): Promise<StateJournal | undefined> {
    const { journalPath, logger, controlPath } = this.#options;
    if (!journalPath) return undefined;
    const journal = await readJournal(journalPath);
    if (!journal) return undefined;
    logger.warn(
      { journal: { ...journal, startedAtUnixMs: String(journal.startedAtUnixMs) } },
      'found the journal of an interrupted handoff',
    );
    try {
      const conn = await connectControl(controlPath, this.#options.writeTimeoutMs);
      try {
        const { message } = await conn.read(this.#options.journalProbeReadTimeoutMs, 'Hello');
        logger.info({ incumbent: message.type === 'Hello' ? message.pid : undefined }, 'incumbent answers');
      } finally {
        conn.destroy();
      }
    } catch (error) {
      logger.warn({ err: error, controlPath }, 'could not reach the incumbent while clearing the journal');
    }
    await deleteJournal(journalPath);
    return journal;
  }
}

export type { HandoffOutcome, HandoffSpec, SupervisorOptions };
