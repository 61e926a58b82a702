// Asks the serving daemon who it is by reading the Hello its incumbent sends on connect, then hanging up
// (the incumbent ends that session without touching anything).

import { createConnection } from 'node:net';
import { displayBuildId } from '../supervisor/report.js';
import { FramedConnection } from '../wire.js';

export interface IncumbentIdentity {
  readonly pid: number;
  readonly buildId: string;
}

/** The incumbent's pid and build id, or undefined when it does not answer within `timeoutMs`. */
export async function probeIncumbent(
  controlPath: string,
  timeoutMs: number,
): Promise<IncumbentIdentity | undefined> {
  const socket = createConnection(controlPath);
  socket.on('error', () => {});
  const conn = new FramedConnection(socket, { peer: `incumbent on ${controlPath}` });
  try {
    const { message } = await conn.read(timeoutMs, 'Hello');
    return message.type === 'Hello'
      ? { pid: message.pid, buildId: displayBuildId(message.buildId) }
      : undefined;
  } catch {
    return undefined;
  } finally {
    conn.destroy();
  }
}
