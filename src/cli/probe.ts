// Asks the serving daemon who it is by reading the Hello its incumbent sends on connect, then hanging up
// (the incumbent ends that session without touching anything); and waits for a given pid to answer.

import { setTimeout as delay } from 'node:timers/promises';
import { connectControl } from '../supervisor/control-client.js';
import { displayBuildId } from '../supervisor/report.js';
import type { FramedConnection } from '../wire.js';

export interface IncumbentIdentity {
  readonly pid: number;
  readonly buildId: string;
}

/** The incumbent's pid and build id, or undefined when it does not answer within `timeoutMs`. */
export async function probeIncumbent(
  controlPath: string,
  timeoutMs: number,
): Promise<IncumbentIdentity | undefined> {
  let conn: FramedConnection | undefined;
  try {
    // connectControl refuses a control socket served by another user (not ours, not root).
    conn = await connectControl(controlPath, timeoutMs);
    const { message } = await conn.read(timeoutMs, 'Hello');
    return message.type === 'Hello'
      ? { pid: message.pid, buildId: displayBuildId(message.buildId) }
      : undefined;
  } catch {
    return undefined;
  } finally {
    conn?.destroy();
  }
}

/** Between probes while waiting for an incumbent: short, since the wait is normally a few ms. */
const PROBE_RETRY_MS = 5;

/**
 * Resolves with its identity once the incumbent answering on `controlPath` is `pid`, undefined if that takes longer than
 * `timeoutMs`. A committed successor takes the control path over only after its Ready (docs/protocol.md §5.3), a moment
 * after the supervisor has acted on that Ready: until then the path still names the old build's socket.
 */
export async function waitForIncumbent(
  controlPath: string,
  pid: number,
  timeoutMs: number,
): Promise<IncumbentIdentity | undefined> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const remainingMs = deadline - performance.now();
    if (remainingMs <= 0) return undefined;
    const identity = await probeIncumbent(controlPath, remainingMs);
    if (identity?.pid === pid) return identity;
    await delay(Math.min(PROBE_RETRY_MS, Math.max(0, deadline - performance.now())));
  }
}
