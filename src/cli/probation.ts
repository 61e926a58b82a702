// Probation (docs/operations.md, "Probation"): for probation_secs after a commit the new
// build is watched: its exit, and optionally an HTTP probe against the daemon's own listener. The first
// failure hands over to the fall-back (handoffs.ts carries it out); the window ending without one passes.

import http from 'node:http';
import type { InstanceSpec } from '../supervisor/spawn.js';
import type { FallBackRecord } from './history.js';

export interface ProbationOptions {
  readonly probationMs: number;
  /** Probed every probeIntervalMs (each probe also times out after that long); undefined = exit only. */
  readonly probeUrl: URL | undefined;
  readonly probeIntervalMs: number;
  /** This many failed probes in a row fail the probation. */
  readonly probeFailures: number;
}

/** Why a probation failed, as the fall-back receives it. */
export interface ProbationFailure {
  readonly cause: FallBackRecord['cause'];
  readonly reason: string;
}

/** How a probation ended, for `handoff upgrade --wait-probation` and the log. */
export type ProbationOutcome =
  | { readonly result: 'passed'; readonly probationMs: number }
  | {
      readonly result: 'failed';
      readonly cause: FallBackRecord['cause'];
      readonly reason: string;
      readonly fallBack: FallBackRecord;
    }
  /** Ended early without a verdict: another handoff replaced the build, or the supervisor is stopping. */
  | { readonly result: 'ended'; readonly reason: string };

/** The build under watch and the one to fall back to, both as recorded at the commit. */
export interface ProbationSubject {
  readonly pid: number;
  readonly build: InstanceSpec;
  readonly previous: InstanceSpec;
}

export class Probation {
  readonly subject: ProbationSubject;
  readonly sinceUnixMs = Date.now();
  readonly endsAtUnixMs: number;
  readonly #options: ProbationOptions;
  readonly #fallBack: (failure: ProbationFailure) => Promise<FallBackRecord>;
  readonly outcome: Promise<ProbationOutcome>;
  #settle!: (outcome: ProbationOutcome | Promise<ProbationOutcome>) => void;
  #over = false;
  #windowTimer: NodeJS.Timeout | undefined;
  #probeTimer: NodeJS.Timeout | undefined;
  #probe: http.ClientRequest | undefined;
  #failedProbes = 0;

  /**
   * Starts watching `subject` now. `fallBack` runs once, on the first failure, and its record completes the
   * outcome.
   */
  constructor(
    subject: ProbationSubject,
    options: ProbationOptions,
    fallBack: (failure: ProbationFailure) => Promise<FallBackRecord>,
  ) {
    this.subject = subject;
    this.#options = options;
    this.#fallBack = fallBack;
    this.endsAtUnixMs = this.sinceUnixMs + options.probationMs;
    this.outcome = new Promise((resolve) => {
      this.#settle = resolve;
    });
    this.#windowTimer = setTimeout(
      () => this.#finish({ result: 'passed', probationMs: options.probationMs }),
      options.probationMs,
    );
    if (options.probeUrl) this.#scheduleProbe(options.probeUrl);
  }

  /** Whether it is still watching. */
  get watching(): boolean {
    return !this.#over;
  }

  /** Failed probes in a row so far. */
  get failedProbes(): number {
    return this.#failedProbes;
  }

  /**
   * The keeper saw `pid` exit outside a handoff. Returns true when that is the build on probation (the
   * probation fails and its fall-back replaces the crash restart), false otherwise.
   */
  exited(pid: number, how: string, lastWords: string | undefined): boolean {
    if (this.#over || pid !== this.subject.pid) return false;
    const words = lastWords ? `; its last words: ${lastWords}` : '';
    this.#fail({ cause: 'exited', reason: `the build ${how} during probation${words}` });
    return true;
  }

  /** Ends the probation without a verdict (superseded by another handoff, or the supervisor stopping). */
  end(reason: string): void {
    this.#finish({ result: 'ended', reason });
  }

  #fail(failure: ProbationFailure): void {
    if (this.#over) return;
    this.#stopTimers();
    this.#over = true;
    this.#settle(
      this.#fallBack(failure).then((fallBack) => ({ result: 'failed' as const, ...failure, fallBack })),
    );
  }

  #finish(outcome: ProbationOutcome): void {
    if (this.#over) return;
    this.#stopTimers();
    this.#over = true;
    this.#settle(outcome);
  }

  #stopTimers(): void {
    clearTimeout(this.#windowTimer);
    clearTimeout(this.#probeTimer);
    this.#probe?.destroy();
  }

  /** One probe every interval, never two at once: the next is scheduled when the last one has ended. */
  #scheduleProbe(url: URL): void {
    this.#probeTimer = setTimeout(() => {
      this.#probe = probeOnce(url, this.#options.probeIntervalMs, (failure) => {
        this.#probe = undefined;
        if (this.#over) return;
        if (failure === undefined) this.#failedProbes = 0;
        else if (++this.#failedProbes >= this.#options.probeFailures) {
          return this.#fail({
            cause: 'probe_failed',
            reason: `${this.#failedProbes} probes of ${url.href} failed in a row, the last: ${failure}`,
          });
        }
        this.#scheduleProbe(url);
      });
    }, this.#options.probeIntervalMs);
  }
}

/** One GET of `url` on a fresh connection; `done` gets undefined for a 2xx, else what went wrong. */
function probeOnce(
  url: URL,
  timeoutMs: number,
  done: (failure: string | undefined) => void,
): http.ClientRequest {
  let settled = false;
  const finish = (failure: string | undefined) => {
    if (settled) return;
    settled = true;
    done(failure);
  };
  const request = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
    res.resume();
    res.on('error', () => {});
    const status = res.statusCode ?? 0;
    finish(status >= 200 && status < 300 ? undefined : `HTTP ${status}`);
  });
  request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
  request.on('error', (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
  return request;
}
