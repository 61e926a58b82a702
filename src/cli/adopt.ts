// Re-adoption: a `handoff run` that starts while a daemon of its config still serves (its supervisor was
// killed) takes it over instead of fighting it for the port. The daemon is found by its control socket (it
// answers Hello, and the kernel names the process behind the socket); its listening sockets come back with
// pidfd_getfd, matched to the configured listeners by address, never by guessing fd numbers.

import { readdirSync, readlinkSync } from 'node:fs';
import { HandoffError, isHandoffError } from '../errors.js';
import type { Logger } from '../log.js';
import { closeFd, isListeningSocket, pidfdGetfd, pidfdOpen, socketName } from '../os.js';
import { connectControl } from '../supervisor/control-client.js';
import type { ListenerConfig } from './config.js';

/** Reading the live daemon's Hello: it answers at once, or it is not a daemon we can adopt. */
const ADOPT_PROBE_MS = 2_000;

export interface LiveDaemon {
  /** The pid behind the control socket (kernel peer credentials), equal to the one its Hello announced. */
  readonly pid: number;
  readonly buildId: Uint8Array;
}

/** The daemon that answers on `controlPath` now, or undefined when nobody does. */
export async function findLiveDaemon(controlPath: string): Promise<LiveDaemon | undefined> {
  let conn: Awaited<ReturnType<typeof connectControl>> | undefined;
  try {
    conn = await connectControl(controlPath, ADOPT_PROBE_MS);
  } catch (error) {
    // Nobody there (refused, no such path): nothing to adopt. Someone else's socket: say so.
    if (isHandoffError(error, 'PeerRejected')) throw error;
    return undefined;
  }
  try {
    const peerPid = conn.peerPid;
    if (peerPid === undefined) return undefined;
    const { message } = await conn.read(ADOPT_PROBE_MS, 'Hello');
    if (message.type !== 'Hello' || message.role !== 'Incumbent' || message.pid !== peerPid) return undefined;
    return { pid: peerPid, buildId: message.buildId };
  } catch {
    return undefined;
  } finally {
    conn.destroy();
  }
}

/** A configured listener recovered from the live daemon. */
export interface TakenListener {
  readonly name: string;
  readonly fd: number;
}

/**
 * Copies the live daemon's listening socket for every configured listener into this process (pidfd_getfd),
 * choosing among its socket fds by what each is bound to. Returns the pidfd (the caller owns it) and the
 * listeners. Throws `Io` naming the pid, the reason and the recovery when the copy is not permitted, or
 * when a configured listener is not among its sockets; nothing is left open then, and nothing is touched.
 */
export function takeListeners(
  pid: number,
  listeners: readonly ListenerConfig[],
  logger: Logger,
): { pidfd: number; taken: TakenListener[] } {
  const pidfd = pidfdOpen(pid);
  const taken: TakenListener[] = [];
  const fail = (why: string, cause?: unknown): never => {
    for (const listener of taken) closeFd(listener.fd);
    closeFd(pidfd);
    throw new HandoffError(
      'Io',
      `cannot adopt the daemon pid ${pid} that still serves this config: ${why}. Stop it (kill -TERM ${pid}) ` +
        'and start handoff run again',
      {},
      cause === undefined ? {} : { cause },
    );
  };
  const notPermitted = 'is not permitted (another uid, or Yama ptrace_scope ≥ 1 without CAP_SYS_PTRACE)';
  let entries: string[];
  try {
    entries = readdirSync(`/proc/${pid}/fd`);
  } catch (error) {
    return fail(`listing its fds (/proc/${pid}/fd) ${notPermitted}`, error);
  }
  const seen = new Set<string>();
  for (const entry of entries) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${entry}`);
    } catch {
      continue; // closed meanwhile
    }
    // One copy per socket: a daemon holds several fds for one listener (the inherited one, spares).
    if (!target.startsWith('socket:') || seen.has(target)) continue;
    seen.add(target);
    let fd: number;
    try {
      fd = pidfdGetfd(pidfd, Number(entry));
    } catch (error) {
      if (isHandoffError(error, 'Io') && error.details.errno === 'EBADF') continue;
      const permission = isHandoffError(error, 'Io') && error.details.errno === 'EPERM';
      return fail(
        permission
          ? `pidfd_getfd ${notPermitted}`
          : `pidfd_getfd failed: ${error instanceof Error ? error.message : String(error)}`,
        error,
      );
    }
    const name = isListeningSocket(fd) ? listenerFor(fd, listeners, taken) : undefined;
    if (name === undefined) closeFd(fd);
    else taken.push({ name, fd });
  }
  const missing = listeners.filter((l) => !taken.some((t) => t.name === l.name)).map((l) => l.name);
  if (missing.length > 0) fail(`it holds no listening socket for listener(s) ${missing.join(', ')}`);
  logger.info(
    { daemonPid: pid, listeners: taken.map((t) => t.name) },
    'took the listeners back from the daemon',
  );
  return { pidfd, taken };
}

/** The configured listener the socket `fd` is bound to, if one (not yet taken) matches its address. */
function listenerFor(
  fd: number,
  listeners: readonly ListenerConfig[],
  taken: readonly TakenListener[],
): string | undefined {
  const bound = socketName(fd);
  const match = listeners.find(({ name, addr }) => {
    if (taken.some((t) => t.name === name)) return false;
    if (addr.kind === 'unix') return bound.family === 'unix' && bound.path === addr.path;
    return (
      (bound.family === 'inet' || bound.family === 'inet6') &&
      bound.address === addr.host &&
      (addr.port === 0 || bound.port === addr.port)
    );
  });
  return match?.name;
}
