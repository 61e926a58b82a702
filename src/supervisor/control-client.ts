// The supervisor's side of the incumbent's control socket (docs/protocol.md §5.1 step 3): connect, and take the first
// frame (the incumbent speaks first), retrying while the path is between two owners.

import { createConnection } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { checkServer } from '../control-socket.js';
import { HandoffError, ioError, isHandoffError } from '../errors.js';
import type { Message } from '../protocol/messages.js';
import { CONTROL_CONNECT_RETRY_MS } from '../timing.js';
import { FramedConnection } from '../wire.js';

/**
 * Connects to the control socket at `path`, checks who serves it, and records the server's pid on the
 * connection. Throws `Io` naming the path when nobody accepts, `PeerRejected` for another user's socket.
 */
export async function connectControl(path: string, writeTimeoutMs: number): Promise<FramedConnection> {
  const socket = createConnection(path);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
  } catch (error) {
    socket.destroy();
    throw ioError(`cannot reach the incumbent's control socket ${path}`, error, { path });
  }
  let serverPid: number;
  try {
    serverPid = checkServer(socket, path).pid;
  } catch (error) {
    socket.destroy();
    throw error;
  }
  return new FramedConnection(socket, { writeTimeoutMs, peer: `incumbent on ${path}`, peerPid: serverPid });
}

/**
 * Connects to the control socket and reads the incumbent's first frame, all within `helloReadTimeoutMs`.
 * A refused connection, a missing path, or a connection closed before any frame is retried every
 * CONTROL_CONNECT_RETRY_MS within that budget: right after a commit the path still leads to the old
 * incumbent, which stops serving it on Commit, until the successor's atomic bind replaces it — and the
 * successor may bind only after its Ready is out (docs/protocol.md §5.3), so a supervisor that starts the next handoff
 * at once can land in between. Nothing has been sent to anyone yet, so retrying is safe. Other failures,
 * and the last one at the deadline, are thrown.
 */
export async function connectAndReadFirstFrame(
  path: string,
  timing: { readonly helloReadTimeoutMs: number; readonly writeTimeoutMs: number },
  signal?: AbortSignal,
): Promise<{ conn: FramedConnection; message: Message }> {
  const giveUpAt = Date.now() + timing.helloReadTimeoutMs;
  for (;;) {
    let conn: FramedConnection | undefined;
    const onAbort = () => conn?.destroy();
    signal?.addEventListener('abort', onAbort);
    try {
      signal?.throwIfAborted();
      conn = await connectControl(path, timing.writeTimeoutMs);
      signal?.throwIfAborted();
      const { message } = await conn.read(Math.max(1, giveUpAt - Date.now()), 'peer Hello');
      return { conn, message };
    } catch (error) {
      conn?.destroy();
      if (signal?.aborted) throw error;
      if (isHandoffError(error, 'Timeout')) throw busy(path, timing.helloReadTimeoutMs, error);
      if (!betweenOwners(error) || Date.now() + CONTROL_CONNECT_RETRY_MS >= giveUpAt) throw error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    await delay(CONTROL_CONNECT_RETRY_MS);
  }
}

/**
 * The incumbent accepted our connection but never spoke: it serves one session at a time, so another client
 * holds the control socket (a session in a handoff never yields; an idle one does).
 */
function busy(path: string, timeoutMs: number, cause: HandoffError): HandoffError {
  return new HandoffError(
    'Timeout',
    `the control socket ${path} is busy or its daemon is stuck: no Hello within ${timeoutMs} ms. The ` +
      'daemon serves one control session at a time; another client may hold it (another supervisor in a handoff?)',
    { what: 'peer Hello', timeoutMs, path },
    { cause },
  );
}

/** The ways a control path in mid-takeover fails: nobody listens (yet), or the listener closed on us. */
function betweenOwners(error: unknown): error is HandoffError {
  if (!isHandoffError(error, 'Io')) return false;
  const { errno, eof } = error.details;
  return eof === true || ['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE'].includes(String(errno));
}
