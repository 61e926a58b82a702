// Event names (docs/protocol.md §9), and a typed event emitter the incumbent and supervisor report on.

import { EventEmitter } from 'node:events';
import type { Logger } from './log.js';
import type { HandoffId } from './protocol/messages.js';

export const HandoffEvent = Object.freeze({
  PREPARE: 'handoff.prepare',
  DRAINED: 'handoff.drained',
  SEAL: 'handoff.seal',
  SEAL_COMPLETE: 'handoff.seal_complete',
  READY: 'handoff.ready',
  COMMIT: 'handoff.commit',
  ABORT: 'handoff.abort',
  RESUME: 'handoff.resume',
} as const);

/** The payload of each event. Durations are milliseconds. */
export interface HandoffEventMap {
  'handoff.prepare': { handoffId: HandoffId; deadlineMs: number; drainGraceMs: number };
  'handoff.drained': {
    handoffId: HandoffId;
    drainMs: number;
    openConnsRemaining: number;
    acceptClosed: boolean;
  };
  'handoff.seal': { handoffId: HandoffId };
  'handoff.seal_complete': { handoffId: HandoffId; sealMs: number; lastRevisionPerShard: readonly bigint[] };
  'handoff.ready': {
    handoffId: HandoffId;
    beginToReadyMs: number;
    healthzOk: boolean;
    listeningOn: readonly string[];
    advertisedRevisionPerShard: readonly bigint[];
  };
  'handoff.commit': { handoffId: HandoffId; totalMs?: number };
  'handoff.abort': { handoffId: HandoffId; reason: string };
  'handoff.resume': { handoffId: HandoffId | undefined; reason: string };
}

export type HandoffEventName = keyof HandoffEventMap;

/** An EventEmitter whose `on`/`emit` are typed by HandoffEventMap. */
export class HandoffEvents extends EventEmitter {
  override on<E extends HandoffEventName>(event: E, listener: (payload: HandoffEventMap[E]) => void): this {
    return super.on(event, listener);
  }

  override once<E extends HandoffEventName>(event: E, listener: (payload: HandoffEventMap[E]) => void): this {
    return super.once(event, listener);
  }

  override emit<E extends HandoffEventName>(event: E, payload: HandoffEventMap[E]): boolean {
    return super.emit(event, payload);
  }
}

/**
 * Emits `event` and logs it with its payload. Both are diagnostics: a listener or a log sink that throws
 * is logged and never changes the handoff (past a commit, a throw would lose track of the serving build).
 */
export function announce<E extends HandoffEventName>(
  events: HandoffEvents,
  logger: Logger,
  event: E,
  payload: HandoffEventMap[E],
  message: string = event,
  level: 'info' | 'warn' = 'info',
): void {
  try {
    events.emit(event, payload);
    logger[level]({ event, ...payload }, message);
  } catch (error) {
    logger.warn({ err: error, event }, 'a handoff event listener threw');
  }
}
