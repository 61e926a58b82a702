// Drains a plain TCP server (net.Server): stop accepting, let the application end each connection at a
// boundary of its own protocol (a callback per connection), and destroy only what is left at the deadline.

import type net from 'node:net';
import type { Socket } from 'node:net';
import { invalidOption } from '../options.js';
import { ServerDrainer } from './drainer.js';
import { type ListenerOptions, type QuietOptions, resolveQuietMs } from './options.js';
import { QuietTimer } from './quiet-timer.js';
import type { ConnectionGroup, ServerDrain } from './server-drain.js';

/** Options of {@link TcpDrain}. */
export interface TcpDrainOptions extends ListenerOptions, QuietOptions {
  /**
   * Called once per open connection when a drain begins, and at once for a connection accepted while one
   * is in progress: end it (`socket.end()`) at the next boundary of your protocol — after the reply in
   * flight, say — and the drain waits for it to close. Only what is still open at the deadline is
   * destroyed. A callback that throws gets its connection ended (FIN) at once.
   * Default: end the connection once it has received nothing for `drainQuietMs` (decided after every
   * byte already received has been read); right for request–reply protocols whose server answers every
   * message it reads before the client sends the next one.
   */
  readonly onDrain?: (socket: Socket) => void;
}

class TcpConnections implements ConnectionGroup {
  readonly #core: ServerDrain;
  readonly #quietMs: number;
  readonly #onDrain: ((socket: Socket) => void) | undefined;
  /** Each open socket, with its quiet timer when the default end is used; `told` once onDrain ran. */
  readonly #sockets = new Map<Socket, { quiet: QuietTimer | undefined; told: boolean }>();

  constructor(server: net.Server, core: ServerDrain, quietMs: number, onDrain?: (socket: Socket) => void) {
    this.#core = core;
    this.#quietMs = quietMs;
    this.#onDrain = onDrain;
    server.on('connection', (socket: Socket) => {
      const entry = { quiet: undefined as QuietTimer | undefined, told: false };
      this.#sockets.set(socket, entry);
      socket.once('close', () => {
        entry.quiet?.clear();
        this.#sockets.delete(socket);
        core.connectionClosed();
      });
      if (core.closing) this.#finish(socket);
    });
  }

  get size(): number {
    return this.#sockets.size;
  }

  beginClosing(): void {
    for (const socket of this.#sockets.keys()) this.#finish(socket);
  }

  stopClosing(): void {
    for (const entry of this.#sockets.values()) entry.quiet?.clear();
  }

  destroyAll(): void {
    for (const socket of this.#sockets.keys()) socket.destroy();
  }

  #finish(socket: Socket): void {
    const entry = this.#sockets.get(socket);
    if (!entry || socket.destroyed || socket.writableEnded) return;
    if (this.#onDrain) {
      if (entry.told) return;
      entry.told = true;
      try {
        this.#onDrain(socket);
      } catch {
        socket.end();
      }
      return;
    }
    entry.quiet ??= new QuietTimer(
      this.#quietMs,
      () => socket.bytesRead,
      () => {
        if (this.#core.closing && !socket.destroyed) socket.end();
      },
    );
    entry.quiet.arm();
  }
}

/**
 * Tracks one `net.Server` so it can be drained and resumed. A drain stops accepting (new clients wait in
 * the supervisor's accept queue for the successor), hands each connection to `onDrain` (or ends it once
 * quiet), waits until every connection has closed, and destroys the rest at the deadline. Construct it
 * before the server listens; a resume stops ending quiet connections (one `onDrain` was called for is the
 * application's to keep or end). Throws `InvalidOption` for a bad option or a server already listening.
 */
export class TcpDrain extends ServerDrainer {
  constructor(server: net.Server, options: TcpDrainOptions = {}) {
    const quietMs = resolveQuietMs(options);
    if (options.onDrain !== undefined && typeof options.onDrain !== 'function') {
      throw invalidOption('onDrain', 'a function', options.onDrain);
    }
    super(server, options, 'TcpDrain');
    this.core.add(new TcpConnections(server, this.core, quietMs, options.onDrain));
  }
}
