// What one handoff did, for people and dashboards: the outcome, the pids and build ids, and the duration of
// each phase ([beyond] docs/protocol.md §5.1). Built up step by step by the supervisor.

import type { HandoffErrorCode } from '../errors.js';
import type { HandoffId } from '../protocol/messages.js';

/** The steps a handoff goes through, as reported to progress listeners. */
export type HandoffStep =
  | 'connected'
  | 'spawned'
  | 'prepare'
  | 'drained'
  | 'sealed'
  | 'begin'
  | 'ready'
  | 'committed'
  | 'rolled back';

/**
 * How a handoff ended, in the words users see everywhere (CLI, status, JSON, demo): the new build serves,
 * or the old one serves on (the protocol calls this "aborted"), or the handoff could not be carried out.
 */
export type HandoffStatus = 'running' | 'committed' | 'rolled back' | 'failed';

/**
 * Why a handoff rolled back, as one of a few kinds (for metrics labels and dashboards; the full reason stays
 * in `reason`): the successor failed before its handshake, the incumbent's seal failed, no Ready in time, the
 * successor died or misbehaved after Begin, it reported itself unhealthy, its revisions differ from the
 * sealed ones, or the supervisor interrupted the handoff (it is stopping).
 */
export const ROLLBACK_KINDS = [
  'successor_start',
  'seal_failed',
  'ready_timeout',
  'successor_failed',
  'unhealthy',
  'revision_mismatch',
  'interrupted',
] as const;
export type RollbackKind = (typeof ROLLBACK_KINDS)[number];

export interface PhaseDurations {
  /** Connecting to the incumbent through its HelloAck. */
  helloMs?: number;
  /** Spawning the successor until its Hello. */
  spawnToHelloMs?: number;
  /** PrepareHandoff sent until Drained. */
  drainMs?: number;
  /** SealRequest sent until SealComplete. */
  sealMs?: number;
  /** Begin sent until Ready. */
  beginToReadyMs?: number;
  /** The whole handoff. */
  totalMs?: number;
}

export interface InstanceInfo {
  pid?: number;
  /** The build id from Hello: UTF-8 text when printable, else hex. */
  buildId?: string;
  /** A successor that died before Ready: the most telling line of its stderr. */
  lastWords?: string;
}

export interface HandoffReport {
  handoffId: HandoffId;
  status: HandoffStatus;
  /** Why it rolled back or failed. */
  reason?: string;
  /** The kind of `reason`: a RollbackKind when rolled back, the HandoffError code when failed. */
  reasonKind?: RollbackKind | HandoffErrorCode;
  /** Unix epoch ms when the handoff started. */
  startedAtUnixMs: number;
  incumbent: InstanceInfo;
  successor: InstanceInfo;
  phases: PhaseDurations;
}

/**
 * The accept gap of a committed handoff, estimated from its phases: nobody accepts from the start of the
 * old build's drain until the new build listens, so drain + seal + begin→ready bounds it from above.
 * Undefined for a handoff that did not commit or lacks a phase.
 */
export function acceptGapEstimateMs(report: HandoffReport): number | undefined {
  const { drainMs, sealMs, beginToReadyMs } = report.phases;
  if (
    report.status !== 'committed' ||
    drainMs === undefined ||
    sealMs === undefined ||
    beginToReadyMs === undefined
  )
    return undefined;
  return drainMs + sealMs + beginToReadyMs;
}

/** A build id for display: printable UTF-8 as text, anything else as hex. */
export function displayBuildId(bytes: Uint8Array): string {
  const text = Buffer.from(bytes).toString('utf8');
  return /^[\x20-\x7e]*$/.test(text) ? text : Buffer.from(bytes).toString('hex');
}

/** A stopwatch for the report's phases. */
export class PhaseClock {
  readonly #origin = performance.now();
  #mark = this.#origin;

  /** Starts timing a phase. */
  start(): void {
    this.#mark = performance.now();
  }

  /** Milliseconds since `start()`, rounded to 0.1 ms. */
  lap(): number {
    return round(performance.now() - this.#mark);
  }

  /** Milliseconds since the clock was made. */
  total(): number {
    return round(performance.now() - this.#origin);
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
