// Options every server drainer shares (the quiet period, the fd duplicator, the accept-queue size), their
// defaults, and the checks that run when a drainer is constructed (errors name the option and the value).

import { HandoffError } from '../errors.js';
import { invalidOption, positiveInteger, timingOptions } from '../options.js';
import { dupFd as nativeDupFd } from '../os.js';
import { DEFAULTS } from '../timing.js';

/** Options of every drainer: how it stops accepting and how it listens again. */
export interface ListenerOptions {
  /**
   * Returns a new fd for the same open socket as `fd` (dup(2)); the drainer owns the returned fd.
   * Default: the native layer's dupFd. A test seam; there is no reason to replace it in a daemon.
   */
  readonly dupFd?: (fd: number) => number | Promise<number>;
  /**
   * Accept-queue length passed when `resume()` listens again; the kernel caps it at net.core.somaxconn.
   * Pass the same value the daemon listened with. Default: 4096 (arrival rate × accept gap must fit).
   */
  readonly backlog?: number;
}

/** Options of the drainers that close idle connections themselves. */
export interface QuietOptions {
  /**
   * How long, in ms, a connection with nothing in flight must stay silent during a drain before it is
   * closed. Whatever arrives in that window is served (and the connection closed after it) instead of
   * racing the close. Default: 50 (enough for 0 resets in the measurement in docs/operations.md).
   */
  readonly drainQuietMs?: number;
}

/** The drainers' defaults, as named in the one DEFAULTS table. */
export const DRAIN_DEFAULTS = Object.freeze({
  drainQuietMs: DEFAULTS.drainQuietMs,
  backlog: DEFAULTS.backlog,
});

export interface ResolvedListenerOptions {
  readonly dupFd: (fd: number) => number | Promise<number>;
  readonly backlog: number;
}

export function resolveListenerOptions(options: ListenerOptions): ResolvedListenerOptions {
  const backlog = positiveInteger('backlog', options.backlog, DEFAULTS.backlog);
  if (options.dupFd !== undefined && typeof options.dupFd !== 'function') {
    throw invalidOption('dupFd', 'a function', options.dupFd);
  }
  return { backlog, dupFd: options.dupFd ?? nativeDupFd };
}

export function resolveQuietMs(options: QuietOptions): number {
  return timingOptions(options, ['drainQuietMs']).drainQuietMs;
}

/** Refuses a server that already listens: connections it accepted before could not be drained. */
export function checkNotListening(server: { readonly listening: boolean }, drainer: string): void {
  if (server.listening) {
    throw new HandoffError(
      'InvalidOption',
      `${drainer} must be attached before the server listens: connections accepted earlier cannot be drained`,
      { option: 'server' },
    );
  }
}
