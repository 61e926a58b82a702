// The supervisor's trigger socket: bound once (mode 0600), one request line per connection, served only to
// peers of our own uid or root (peer credentials), like the daemon's control socket. A refused peer gets a
// reply and a log line naming its uid and pid.

import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { ioError } from '../errors.js';
import type { Logger } from '../log.js';
import { closeFd, peerCredentials, socketFd } from '../os.js';
import { bindUnixSocket, ensurePrivateDirectory } from '../safe-path.js';
import { claimSocketPath } from './socket-paths.js';
import { readRequestLine } from './trigger.js';

export interface TriggerServer {
  readonly server: Server;
  /** The inode of the socket file we bound, to remove it at exit only if it is still ours. */
  readonly ino: number | undefined;
}

/** Binds `path` and serves each connection's request line to `handle`. */
export async function serveTriggers(
  path: string,
  logger: Logger,
  handle: (line: string, socket: Socket) => Promise<void>,
): Promise<TriggerServer> {
  ensurePrivateDirectory(dirname(path), 'directory of the trigger socket');
  await claimSocketPath(path, 'trigger socket');
  // Half-open: the client ends its side right after the request line, and the reply may come much later.
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => {});
    if (!trusted(socket, path, logger)) return;
    readRequestLine(socket)
      .then((line) => handle(line, socket))
      .catch((error: unknown) => {
        logger.warn({ err: error }, 'trigger request failed');
        socket.destroy();
      });
  });
  const { fd, ino } = bindUnixSocket(path, 0o600, 'trigger socket');
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen({ fd }, resolve)).catch(
    (error: unknown) => {
      closeFd(fd);
      throw ioError(`cannot serve the trigger socket ${path}`, error, { path });
    },
  );
  return { server, ino };
}

/** Only our own uid and root may trigger a handoff (it runs a program as us) or read the status. */
function trusted(socket: Socket, path: string, logger: Logger): boolean {
  let peer: { pid: number; uid: number };
  try {
    peer = peerCredentials(socketFd(socket));
  } catch (error) {
    logger.warn({ err: error, trigger: path }, 'trigger connection without peer credentials refused');
    socket.destroy();
    return false;
  }
  const ours = process.getuid?.() ?? -1;
  if (peer.uid === 0 || peer.uid === ours) return true;
  logger.warn(
    { peerUid: peer.uid, peerPid: peer.pid, trigger: path },
    'trigger connection refused: only our own uid and root may use the trigger socket',
  );
  socket.end(`err: permission denied: uid ${peer.uid} may not use this trigger socket\n`);
  return false;
}
