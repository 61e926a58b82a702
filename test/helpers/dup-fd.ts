// Listening fds for tests without the native addon: a supervisor-like held socket, and dup(2) done by a
// child that inherits the fd and sends it back over IPC (Node passes it with SCM_RIGHTS, a real duplicate).

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./dup-fd-child.mjs', import.meta.url));
const CHILD_TIMEOUT_MS = 10_000;

/** The handle wrap Node gives the receiver of a raw TCP handle; it owns `fd` until `close()`. */
interface NativeHandle {
  readonly fd: number;
  close(): void;
}

function receive(args: string[], stdio: Array<'ignore' | 'inherit' | 'ipc' | number>) {
  return new Promise<{ message: Record<string, unknown>; handle: NativeHandle }>((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, ...args], { stdio, timeout: CHILD_TIMEOUT_MS });
    child.once('error', reject);
    // A clean exit follows the message; only a failed one means no fd is coming.
    child.once('exit', (code, signal) => {
      if (code !== 0) reject(new Error(`dup-fd child failed (${code ?? signal})`));
    });
    child.once('message', (message, handle) => resolve({ message, handle } as never));
  });
}

/** A listening socket on 127.0.0.1 held like the supervisor holds one: open, and never accepting. */
export async function holdListeningSocket(): Promise<{ port: number; fd: number; close: () => void }> {
  const { message, handle } = await receive(['listen'], ['ignore', 'inherit', 'inherit', 'ipc']);
  return { port: message.port as number, fd: handle.fd, close: () => handle.close() };
}

/**
 * dup(2): a new fd for the same open socket. The caller owns the returned fd. The wrap that received it is
 * left unclosed on purpose (Node keeps unclosed handle wraps alive), so it can never close that fd number
 * after the caller's server has closed it and the number has been reused.
 */
export async function dupFdViaChild(fd: number): Promise<number> {
  const { handle } = await receive(['dup'], ['ignore', 'inherit', 'inherit', 'ipc', fd]);
  return handle.fd;
}
