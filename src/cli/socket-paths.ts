// The Unix socket paths the supervisor binds (trigger socket, unix: listeners): it removes a path only when
// it is a socket nobody answers on (a stale one from a dead run), and at exit only the socket it bound
// itself. Anything else at the path is an error that names it.

import { lstatSync, statSync, unlinkSync } from 'node:fs';
import { createConnection } from 'node:net';
import { HandoffError, ioError } from '../errors.js';

/** How long a connect to a stale-looking socket may take before we call it answered (busy, not dead). */
const PROBE_TIMEOUT_MS = 1_000;

/**
 * Makes `path` free for a bind: nothing there → nothing to do; a socket nobody accepts on (ECONNREFUSED)
 * → removed; a socket something answers on → `Io` "in use"; anything else (a file, a directory, a symlink)
 * → `Io`, left alone.
 */
export async function claimSocketPath(path: string, what: string): Promise<void> {
  let stat: ReturnType<typeof lstatSync>;
  try {
    stat = lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw ioError(`cannot inspect ${what} ${path}`, error, { path });
  }
  if (!stat.isSocket()) {
    throw new HandoffError(
      'Io',
      `${what} ${path} exists and is not a socket; not removing it (move it away or choose another path)`,
      { path },
    );
  }
  if (await answers(path)) {
    throw new HandoffError('Io', `${what} ${path} is in use: something accepts connections on it`, {
      path,
      errno: 'EADDRINUSE',
    });
  }
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw ioError(`cannot remove the stale ${what} ${path}`, error, { path });
    }
  }
}

/** The inode now at `path`, to recognise our own socket at exit; undefined if there is none. */
export function inodeAt(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

/** Removes `path` if it still is the socket we bound (inode `ino`); anything else is left alone. */
export function removeOwnSocket(path: string, ino: number | undefined): void {
  if (ino === undefined) return;
  try {
    const stat = lstatSync(path);
    if (stat.isSocket() && stat.ino === ino) unlinkSync(path);
  } catch {
    // gone already, or not ours to judge
  }
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    const done = (answered: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answered);
    };
    const timer = setTimeout(() => done(true), PROBE_TIMEOUT_MS);
    socket.once('connect', () => done(true));
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code !== 'ECONNREFUSED'));
  });
}
