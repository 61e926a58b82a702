// The incumbent's control socket (docs/protocol.md §5.2 [beyond]): bound atomically and privately, and served only to
// peers of our own uid or root. Used by the cold start and, after Ready, by the successor taking over.

import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { HandoffError, ioError } from './errors.js';
import { closeFd, type PeerCredentials, peerCredentials, socketFd } from './os.js';
import { bindUnixSocket, ensurePrivateDirectory } from './safe-path.js';

/**
 * Binds a Unix stream socket at `path` so that the path never points at nothing and never at a socket
 * anyone else may use: the socket is made (mode 0600) in a private scratch directory and renamed over
 * `path`. An old incumbent still listening on the previous inode keeps its open sessions; new connections
 * reach us. The directory must be safe from other users (`UnsafePath` otherwise; created 0700 if missing).
 * Throws `SocketPathTooLong` for a path over the sun_path limit, `Io` for anything else.
 */
export async function bindControlSocket(path: string): Promise<Server> {
  ensurePrivateDirectory(dirname(path), 'directory of the control socket');
  const { fd } = bindUnixSocket(path, 0o600, 'control socket');
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

/**
 * The supervisor's side of the same rule: before it speaks to a control socket, its server must be our own
 * uid or root — else `PeerRejected` naming the uid. Returns the server's credentials (its pid, too). Someone else's socket planted at the path (a wrong
 * directory mode) would otherwise be told our handoffs.
 */
export function checkServer(socket: Socket, path: string): PeerCredentials {
  const server = peerCredentials(socketFd(socket));
  const { uid } = server;
  const ours = process.getuid?.() ?? -1;
  if (uid === 0 || uid === ours) return server;
  throw new HandoffError(
    'PeerRejected',
    `the control socket ${path} is served by uid ${uid}, not by us (uid ${ours}) or root; refusing to use it`,
    { uid, path },
  );
}
