// Counting for the servers load: per client kind, every logical request (or message) sent, answered, retried
// after the server said it was not processed (GOAWAY, a 503 upgrade, EOF before an ack), or failed.

import { setTimeout as delay } from 'node:timers/promises';

export interface ClientStats {
  sent: number;
  ok: number;
  /** Attempts the server declined in a way the protocol tells the client (so a retry is safe). */
  retried: number;
  failed: number;
  errors: Record<string, number>;
}

export interface Sample {
  /** ms since the load started, when the request was first sent */
  readonly at: number;
  readonly latencyMs: number;
  readonly ok: boolean;
}

/** Raised by an attempt the server declined and told the client about: the request is sent again. */
export class Declined extends Error {
  constructor(readonly why: string) {
    super(why);
  }
}

/** At most this many attempts per logical request; a request declined this often counts as failed. */
const MAX_ATTEMPTS = 20;

export abstract class ServerLoad {
  readonly stats = new Map<string, ClientStats>();
  readonly samples: Sample[] = [];
  readonly declines = new Map<string, number>();
  protected running = true;
  readonly #loops: Promise<void>[] = [];
  readonly #start = performance.now();
  #stopping: Promise<void> | undefined;

  /** Starts `count` loops of `client`, each calling `once` until stop. */
  protected loop(client: string, count: number, once: () => Promise<void>): void {
    for (let i = 0; i < count; i++) {
      this.#loops.push(
        (async () => {
          while (this.running) await once();
        })(),
      );
    }
    this.#stats(client);
  }

  /** Stops the loops and releases the clients. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.running = false;
      await Promise.all(this.#loops);
      await this.close();
    })();
    return this.#stopping;
  }

  /** Releases clients (agents, sessions) after the loops ended. */
  protected abstract close(): Promise<void>;

  get answered(): number {
    let ok = 0;
    for (const s of this.stats.values()) ok += s.ok;
    return ok;
  }

  get failed(): number {
    let failed = 0;
    for (const s of this.stats.values()) failed += s.failed;
    return failed;
  }

  elapsedMs(): number {
    return performance.now() - this.#start;
  }

  /** Load time `atMs` as a Unix epoch ms. */
  toUnixMs(atMs: number): number {
    return performance.timeOrigin + this.#start + atMs;
  }

  /** Runs one logical request: attempts until one succeeds, retrying those the server declined. */
  protected async request(client: string, attempt: () => Promise<void>, pauseMs = 5): Promise<boolean> {
    const stats = this.#stats(client);
    stats.sent++;
    const at = this.elapsedMs();
    let reason: string | undefined;
    for (let n = 1; ; n++) {
      try {
        await attempt();
        reason = undefined;
        break;
      } catch (error) {
        if (error instanceof Declined && n < MAX_ATTEMPTS) {
          stats.retried++;
          this.declines.set(error.why, (this.declines.get(error.why) ?? 0) + 1);
          await delay(pauseMs);
          continue;
        }
        const e = error as NodeJS.ErrnoException;
        reason =
          error instanceof Declined ? `declined ${MAX_ATTEMPTS}×: ${e.message}` : (e.code ?? e.message);
        break;
      }
    }
    const ok = reason === undefined;
    this.samples.push({ at, latencyMs: this.elapsedMs() - at, ok });
    if (ok) stats.ok++;
    else {
      stats.failed++;
      stats.errors[reason!] = (stats.errors[reason!] ?? 0) + 1;
      await delay(pauseMs);
    }
    return ok;
  }

  /** Counts a failure seen outside a request (a connection that broke while idle). */
  protected fail(client: string, reason: string): void {
    const stats = this.#stats(client);
    stats.failed++;
    stats.errors[reason] = (stats.errors[reason] ?? 0) + 1;
  }

  #stats(client: string): ClientStats {
    let stats = this.stats.get(client);
    if (!stats) {
      stats = { sent: 0, ok: 0, retried: 0, failed: 0, errors: {} };
      this.stats.set(client, stats);
    }
    return stats;
  }
}
