// The daemon's side of the contract (docs/protocol.md §7): the hooks the incumbent calls during a handoff, and the
// reports they return. Hooks are async; one that blocks the event loop for longer than the supervisor's
// liveness timeout (10 s) stops heartbeats and gets its handoff aborted.

import { HandoffError, isHandoffError } from './errors.js';

/** What `drain` is given. */
export interface DrainContext {
  /** Unix epoch ms (the `Date.now()` scale) by which drain should be done: now + min(drainGrace, deadline). */
  readonly deadline: number;
  /**
   * Aborted when the deadline passes (destroy what is left and return), or when the handoff is abandoned
   * (the supervisor is gone): then `handoffAbandoned(signal)` is true, `resumeAfterAbort` follows at once,
   * and a drain should return without destroying anything — its clients are served on.
   */
  readonly signal: AbortSignal;
}

/** The reason a drain's signal carries when its handoff was abandoned (see `handoffAbandoned`). */
export function abandonment(what: string): HandoffError {
  return new HandoffError('Aborted', `${what}: the handoff is abandoned`, { abandoned: true });
}

/**
 * True when a drain's `signal` aborted because the handoff was abandoned, not because its deadline passed:
 * the daemon resumes next, so the open connections should be kept, not destroyed.
 */
export function handoffAbandoned(signal: AbortSignal): boolean {
  return (
    signal.aborted && isHandoffError(signal.reason, 'Aborted') && signal.reason.details.abandoned === true
  );
}

export interface DrainReport {
  /** Connections still open when drain returned (0 when everything finished). */
  readonly openConnsRemaining: number;
  /** True when this process no longer accepts new connections. */
  readonly acceptClosed: boolean;
}

export interface SealReport {
  /** The last durable revision of each shard; a successor should advertise the same values in Ready. */
  readonly lastRevisionPerShard: readonly bigint[];
  /** Exactly 32 bytes identifying the sealed data (e.g. a SHA-256 of the files). */
  readonly dataDirFingerprint: Uint8Array;
}

export interface StateSnapshot {
  readonly shardCount: number;
  readonly openConns: number;
  readonly lastRevisionPerShard: readonly bigint[];
}

/** What a successor announces in Ready (docs/protocol.md §5.3). */
export interface ReadinessSnapshot {
  /** Human-readable addresses the successor serves, e.g. `127.0.0.1:8080`. */
  readonly listeningOn: readonly string[];
  /** False makes the supervisor roll back unless the handoff allows unhealthy successors. */
  readonly healthzOk: boolean;
  /** Compared with the sealed revisions when the supervisor verifies revisions. */
  readonly advertisedRevisionPerShard: readonly bigint[];
}

/**
 * A daemon that can hand its data over. The library calls the hooks in this order for one handoff:
 * `drain` → `seal` → (exit after Commit) — or `resumeAfterAbort` whenever the handoff is rolled back after
 * `drain` or `seal` ran. The library, not the daemon, releases and re-takes the data-dir lock.
 */
export interface Drainable {
  /**
   * Stop accepting, finish in-flight work, refuse new writes, fsync. Every write acknowledged before this
   * resolves must be durable. If it throws, the library calls `resumeAfterAbort` and the handoff fails.
   */
  drain(context: DrainContext): Promise<DrainReport>;
  /** Flush, finalise, fsync and close every writer. Do not release the lock. */
  seal(): Promise<SealReport>;
  /**
   * Reopen writers and accept again. Must be idempotent: it may follow a drain, a seal, or nothing. After a
   * seal, reload what changed: a successor serves from the moment it listens, before its Ready, so one
   * rolled back after that may have written to the data dir.
   */
  resumeAfterAbort(): Promise<void>;
  /** Diagnostics only; never called during a handoff. */
  snapshotState?(): Promise<StateSnapshot>;
}
