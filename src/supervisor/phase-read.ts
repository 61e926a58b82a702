// The supervisor's two-tier read rule (docs/protocol.md §4). Heartbeats to the side not being read are the
// connection's own (FramedConnection.withHeartbeats).

import { HandoffError } from '../errors.js';
import type { Message } from '../protocol/messages.js';
import type { FramedConnection } from '../wire.js';

export interface ReadTiming {
  readonly livenessTimeoutMs: number;
  readonly minReadTimeoutMs: number;
}

/**
 * Waits up to `budgetMs` (at least the floor) for a frame `accept` takes, reading one frame at a time for
 * at most the liveness timeout: any frame, heartbeats included, proves the peer alive. Heartbeat and
 * SealProgress are skipped; any other frame is `UnexpectedMessage`; past the phase deadline or a silent
 * liveness window it is `Timeout(what)`.
 */
export async function readPhase<T extends Message>(
  conn: FramedConnection,
  budgetMs: number,
  what: string,
  accept: (message: Message) => message is T,
  timing: ReadTiming,
): Promise<T> {
  const phaseDeadline = Date.now() + Math.max(budgetMs, timing.minReadTimeoutMs);
  for (;;) {
    const remaining = phaseDeadline - Date.now();
    if (remaining <= 0) {
      throw new HandoffError('Timeout', `no ${what} from ${conn.peer} within ${budgetMs} ms`, {
        what,
        timeoutMs: budgetMs,
      });
    }
    const waitMs = Math.max(timing.minReadTimeoutMs, Math.min(timing.livenessTimeoutMs, remaining));
    const { message } = await conn.read(waitMs, what);
    if (message.type === 'Heartbeat' || message.type === 'SealProgress') continue;
    if (accept(message)) return message;
    throw new HandoffError('UnexpectedMessage', `expected ${what} from ${conn.peer}, got ${message.type}`, {
      what: message.type,
    });
  }
}
