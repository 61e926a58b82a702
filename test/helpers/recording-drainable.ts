// A Drainable that records every call, for protocol tests: hooks can be slowed down or made to fail, and
// the test waits on the recorded calls instead of sleeping.

import type { Drainable, DrainContext, DrainReport, SealReport } from '../../src/drainable.js';

export type HookName = 'drain' | 'seal' | 'resumeAfterAbort';

export interface RecordingDrainableOptions {
  drainDelayMs?: number;
  /** drain() returns only when its signal aborts (the deadline, or an abandoned handoff). */
  drainUntilAborted?: boolean;
  sealDelayMs?: number;
  /** Throw from the next N seal calls. */
  sealFailures?: number;
  /** Throw from the next N drain calls. */
  drainFailures?: number;
  revisions?: bigint[];
}

export class RecordingDrainable implements Drainable {
  readonly calls: HookName[] = [];
  readonly drainContexts: DrainContext[] = [];
  readonly fingerprint = new Uint8Array(32).fill(0xab);
  options: RecordingDrainableOptions;

  constructor(options: RecordingDrainableOptions = {}) {
    this.options = { ...options };
  }

  count(hook: HookName): number {
    return this.calls.filter((c) => c === hook).length;
  }

  async drain(context: DrainContext): Promise<DrainReport> {
    this.calls.push('drain');
    this.drainContexts.push(context);
    if (this.options.drainDelayMs) await delay(this.options.drainDelayMs);
    if (this.options.drainUntilAborted && !context.signal.aborted) {
      await new Promise((resolve) => context.signal.addEventListener('abort', resolve, { once: true }));
    }
    if (this.options.drainFailures) {
      this.options.drainFailures--;
      throw new Error('drain exploded (test)');
    }
    return { openConnsRemaining: 0, acceptClosed: true };
  }

  async seal(): Promise<SealReport> {
    this.calls.push('seal');
    if (this.options.sealDelayMs) await delay(this.options.sealDelayMs);
    if (this.options.sealFailures) {
      this.options.sealFailures--;
      throw new Error('disk full (test)');
    }
    return { lastRevisionPerShard: this.options.revisions ?? [42n], dataDirFingerprint: this.fingerprint };
  }

  async resumeAfterAbort(): Promise<void> {
    this.calls.push('resumeAfterAbort');
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
