// Polling with a deadline, for tests (STYLE rule 22): wait for a condition, never sleep and hope.

import { setTimeout as delay } from 'node:timers/promises';

export interface WaitForOptions {
  /** What is awaited, for the failure message. */
  readonly what: string;
  /** Give up after this long. Default: 5000 ms. */
  readonly timeoutMs?: number;
  /** Pause between polls. Default: 10 ms. */
  readonly intervalMs?: number;
  /** Extra text for the failure message (for example the tail of a child's log). */
  readonly diagnostics?: () => string;
}

/**
 * Polls `condition` until it returns a value other than `undefined`, `null` or `false`, and returns that value.
 * A condition that throws is retried. Rejects with the last thrown error and `diagnostics()` at the deadline.
 */
export async function waitFor<T>(
  condition: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: WaitForOptions,
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const intervalMs = options.intervalMs ?? 10;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const extra = options.diagnostics ? `\n${options.diagnostics()}` : '';
      const last = lastError === undefined ? '' : `\nlast error: ${String(lastError)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what}${last}${extra}`);
    }
    await delay(intervalMs);
  }
}
