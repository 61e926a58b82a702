// The supervisor's two-tier read rule (docs/protocol.md §4) and its [beyond] heartbeats to the side it is not reading.

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
export async function readPhase(
  conn: FramedConnection,
  budgetMs: number,
  what: string,
  accept: (message: Message) => boolean,
  timing: ReadTiming,
): Promise<Message> {
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

/**
 * Runs `wait` while sending Heartbeat to `idle` (the peer we are not reading) every interval, so a peer
 * that bounds its own waits keeps hearing from us. Peers that ignore heartbeats lose nothing; the
 * incumbent echoes them, and the echoes are skipped by the next read of that connection.
 */
export async function withHeartbeatsTo<T>(
  idle: FramedConnection,
  version: number,
  intervalMs: number,
  wait: () => Promise<T>,
): Promise<T> {
  const timer = setInterval(() => {
    idle.write({ type: 'Heartbeat', tsMs: BigInt(Date.now()) }, version).catch(() => {
      // A dead peer shows up on its own connection's next read or write.
    });
  }, intervalMs);
  try {
    return await wait();
  } finally {
    clearInterval(timer);
  }
}
