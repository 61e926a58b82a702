// A listening socket held the way the supervisor holds one: bound and listening through the native layer,
// never registered with the event loop, so this process never accepts on it.

import { closeFd, listenTcp } from '../../src/os.js';

/** A listening socket on 127.0.0.1 that nobody accepts on until a server listens on a duplicate of `fd`. */
export async function holdListeningSocket(): Promise<{ port: number; fd: number; close: () => void }> {
  const { fd, port } = listenTcp('127.0.0.1', 0);
  return { port, fd, close: () => closeFd(fd) };
}
