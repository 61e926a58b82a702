// The incumbent's control socket (docs/protocol.md §5.2 [beyond]): bound atomically and privately, and served only to
// peers of our own uid or root. Used by the cold start and, after Ready, by the successor taking over.

import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { HandoffError, ioError } from './errors.js';
import { checkSocketPath, closeFd, listenUnix, peerCredentials, socketFd } from './os.js';

/**
 * Binds a Unix stream socket at `path` so that the path never points at nothing and never at a socket
 * anyone else may use: bind a short temporary name in the same directory with mode 0600 (the native layer
 * chmods before listen, so no connection can arrive at a wider mode), then rename it over `path`. An old
 * incumbent still listening on the previous inode keeps its open sessions; new connections reach us.
 * Throws `SocketPathTooLong` for a path over the sun_path limit, `Io` for anything else.
 */
export async function bindControlSocket(path: string): Promise<Server> {
  checkSocketPath(path);
  const dir = dirname(path);
  // Short on purpose: the temporary name must fit in sun_path too.
  const temp = join(dir, `.ho-${process.pid}-${randomBytes(3).toString('hex')}.tmp`);
  try {
    checkSocketPath(temp);
  } catch (error) {
    throw new HandoffError(
      'SocketPathTooLong',
      `control socket ${path} is too close to the sun_path limit for its atomic bind, which needs the ` +
        `temporary name ${basename(temp)} in the same directory; use a shorter directory`,
      { path },
      { cause: error },
    );
  }
  try {
    mkdirSync(dir, { recursive: true });
    rmSync(temp, { force: true });
  } catch (error) {
    throw ioError(`preparing the directory of control socket ${path}`, error, { path });
  }
  const fd = listenUnix(temp, { mode: 0o600 });
  try {
    renameSync(temp, path);
  } catch (error) {
    closeFd(fd);
    rmSync(temp, { force: true });
    throw ioError(`moving the control socket into place at ${path}`, error, { path });
  }
  // Listening through the fd (not the path) also means closing this server never unlinks `path`, which by
  // then may belong to our successor.
  const server = createServer({ pauseOnConnect: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd }, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((error: unknown) => {
    closeFd(fd);
    throw ioError(`serving control socket ${path}`, error, { path, fd });
  });
  return server;
}

/**
 * Rejects a peer that is neither root nor our own uid (nor listed in `allowedUids`): `PeerRejected`.
 * The mode-0600 socket already keeps other users out; this also holds when the socket's directory or mode
 * is changed by someone else.
 */
export function checkPeer(socket: Socket, allowedUids: readonly number[] = []): void {
  const uid = peerCredentials(socketFd(socket)).uid;
  const ours = process.getuid?.() ?? -1;
  if (uid === 0 || uid === ours || allowedUids.includes(uid)) return;
  throw new HandoffError(
    'PeerRejected',
    `control connection from uid ${uid} refused (serving uid ${ours} and root)`,
    {
      uid,
    },
  );
}
